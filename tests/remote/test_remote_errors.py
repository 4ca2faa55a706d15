"""Every remote failure a user must fix gets one line that says which it is
and how to fix it, exit code 1, and changes nothing: unreachable endpoint,
unknown bucket, missing credentials, permission denied, rejected
credentials, unknown remote name, no remote, a missing remote folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.cli import gm_run
from tests.support.git import git
from tests.support.remote import add_commit, free_port, populate
from tests.support.state import mtime_state


@pytest.fixture
def data_repo(repo: Path) -> Path:
    populate(repo)
    add_commit(repo)
    return repo


def target(data_repo: Path, command: str | list[str]) -> Path:
    """Where to run `command`: the repository for a push, a fresh clone
    (pointers, empty cache) for a fetch or pull."""
    first = command if isinstance(command, str) else command[0]
    if first == "push":
        return data_repo
    dest = data_repo.parent / "clone"
    git("clone", "-q", str(data_repo), str(dest))
    return dest


def s3_remote(root: Path, bucket: str, endpoint: str) -> None:
    assert gm_run(["remote", "add", "origin", f"s3://{bucket}/team", "--default"], cwd=root).code == 0
    assert gm_run(["remote", "modify", "origin", "endpoint_url", endpoint], cwd=root).code == 0


def fails(root: Path, args: list[str], *needles: str) -> str:
    """The command fails with one line holding every needle, changing nothing."""
    before = mtime_state(root)
    r = gm_run(args, cwd=root)
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in r.err
    after = mtime_state(root)
    assert set(after[0]) ^ set(before[0]) == set()  # type: ignore[call-overload]  # names what changed
    assert after == before
    return lines[0]


@pytest.mark.parametrize("command", ["push", "fetch", "pull"])
def test_unreachable_endpoint(data_repo: Path, s3_env: str, command: str) -> None:
    root = target(data_repo, command)
    s3_remote(root, "some-bucket", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    line = fails(root, [command], "cannot reach the endpoint", "endpoint_url", "remote 'origin'")
    assert "gitmodel remote modify origin endpoint_url" in line


@pytest.mark.parametrize("command", ["push", "fetch"])
def test_unknown_bucket(data_repo: Path, s3_env: str, command: str) -> None:
    root = target(data_repo, command)
    s3_remote(root, "no-such-bucket-here", s3_env)
    fails(root, [command], "bucket 'no-such-bucket-here' does not exist", "gitmodel remote modify origin url")


@pytest.mark.parametrize("command", ["push", "fetch"])
def test_missing_credentials(data_repo: Path, s3_bucket: str, s3_env: str, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path, command: str) -> None:
    root = target(data_repo, command)
    s3_remote(root, s3_bucket, s3_env)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance-metadata address
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    fails(root, [command], "no AWS credentials found", "AWS_ACCESS_KEY_ID", "config.local.toml")


def test_unknown_profile(data_repo: Path, s3_bucket: str, s3_env: str) -> None:
    s3_remote(data_repo, s3_bucket, s3_env)
    assert gm_run(["remote", "modify", "origin", "profile", "ghost", "--local"], cwd=data_repo).code == 0
    fails(data_repo, ["push"], "profile 'ghost'", "gitmodel remote modify origin profile")


@pytest.fixture(scope="module")
def auth_server() -> Iterator[dict[str, str]]:
    """A second moto server that enforces IAM: a user without any policy,
    and a bucket it may not touch."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        admin = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
                 "aws_secret_access_key": "testing"}
        # The three unauthenticated actions: a user, its key, a bucket.
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        boto3.client("s3", **admin).create_bucket(Bucket="locked-bucket")
        yield {"endpoint": endpoint, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"],
               "bucket": "locked-bucket"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("command", ["push", "fetch"])
def test_permission_denied(data_repo: Path, auth_server: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                           command: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_server["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth_server["secret"])
    root = target(data_repo, command)
    s3_remote(root, auth_server["bucket"], auth_server["endpoint"])
    line = fails(root, [command], "permission denied", "s3://locked-bucket/team/")
    assert auth_server["secret"] not in line


def test_rejected_credentials(data_repo: Path, auth_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOBODYKNOWS00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    s3_remote(data_repo, auth_server["bucket"], auth_server["endpoint"])
    line = fails(data_repo, ["push"], "remote 'origin'")
    assert "permission denied" in line or "credentials were rejected" in line
    assert "wrong-secret" not in line


@pytest.mark.parametrize("command", [["push", "-r", "nope"], ["fetch", "-r", "nope"], ["pull", "-r", "nope"]])
def test_unknown_remote_name(data_repo: Path, tmp_path: Path, command: list[str]) -> None:
    root = target(data_repo, command)
    assert gm_run(["remote", "add", "origin", str(tmp_path / "store")], cwd=root).code == 0
    fails(root, command, "unknown remote 'nope'", "configured: origin", "gitmodel remote list")


def test_no_remote_configured(data_repo: Path) -> None:
    fails(data_repo, ["push"], "no remote is configured", "gitmodel remote add")


def test_several_remotes_and_no_default(data_repo: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert gm_run(["remote", "add", name, str(tmp_path / name)], cwd=data_repo).code == 0
    fails(data_repo, ["push"], "no default remote among a, b", "-r NAME")


def test_a_missing_remote_folder(data_repo: Path, tmp_path: Path) -> None:
    assert gm_run(["remote", "add", "origin", str(tmp_path / "gone" / "store"), "--default"], cwd=data_repo).code == 0
    fails(data_repo, ["push"], "does not exist", "gitmodel remote modify origin url")
    root = target(data_repo, "fetch")
    assert gm_run(["remote", "add", "origin", str(tmp_path / "gone" / "store"), "--default"], cwd=root).code == 0
    fails(root, ["fetch"], "does not exist")
