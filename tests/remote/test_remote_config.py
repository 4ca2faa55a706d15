"""remote add / list / remove / modify / default, and keeping credentials
out of git and out of every message."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from gitmodel.remote.spec import redact
from tests.support.cli import gm_run
from tests.support.git import git
from tests.support.remote import add_commit, populate

SECRET = "wJalrXUtnFEMI0K7MDENGbPxRfiCYEXAMPLEKEY"


def config(root: Path, local: bool = False) -> dict[str, object]:
    path = root / ".gitmodel" / ("config.local.toml" if local else "config.toml")
    return tomllib.loads(path.read_text()) if path.exists() else {}


def test_add_list_modify_default_remove(repo: Path, tmp_path: Path) -> None:
    r = gm_run(["remote", "add", "origin", str(tmp_path / "store"), "--default"])
    assert r.code == 0, r
    assert gm_run(["remote", "add", "backup", "s3://bucket/prefix"]).code == 0
    cfg = config(repo)
    assert cfg["remote"] == {"origin": {"url": str(tmp_path / "store")}, "backup": {"url": "s3://bucket/prefix"}}
    assert cfg["core"]["remote"] == "origin"  # type: ignore[index]
    text = (repo / ".gitmodel/config.toml").read_text()
    assert "# How checkout materialises files" in text  # the user's comments survive
    assert gm_run(["remote", "modify", "backup", "endpoint_url", "http://127.0.0.1:9000"]).code == 0
    assert gm_run(["remote", "modify", "backup", "jobs", "32"]).code == 0
    assert config(repo)["remote"]["backup"] == {"url": "s3://bucket/prefix",  # type: ignore[index]
                                                 "endpoint_url": "http://127.0.0.1:9000", "jobs": 32}
    rows = json.loads(gm_run(["remote", "list", "--json"]).out)
    assert [(x["name"], x["default"]) for x in rows] == [("backup", False), ("origin", True)]
    assert rows[0]["settings"] == {"endpoint_url": "http://127.0.0.1:9000", "jobs": 32}
    out = gm_run(["remote", "list"]).out
    assert "* origin" in out and "  backup" in out
    assert gm_run(["remote", "default", "backup"]).code == 0
    assert gm_run(["remote", "default"]).out.strip() == "backup"
    assert gm_run(["remote", "modify", "backup", "jobs", "--unset"]).code == 0
    assert "jobs" not in config(repo)["remote"]["backup"]  # type: ignore[index]
    assert gm_run(["remote", "remove", "backup"]).code == 0
    cfg = config(repo)
    assert list(cfg["remote"]) == ["origin"]  # type: ignore[call-overload]
    assert "remote" not in cfg["core"]  # type: ignore[operator]  # it was the default: no dangling name


@pytest.mark.parametrize("args, message", [
    (["remote", "add", "bad name", "/x"], "not a valid remote name"),
    (["remote", "add", "other", ""], "url is empty"),
    (["remote", "add", "other", "s3://"], "names no bucket"),
    (["remote", "modify", "nope", "url", "/x"], "unknown remote 'nope'"),
    (["remote", "remove", "nope"], "unknown remote 'nope'"),
    (["remote", "default", "nope"], "unknown remote 'nope'"),
    (["remote", "modify", "origin", "jobs", "0"], "from 1 to 256"),
    (["remote", "modify", "origin", "jobs", "many"], "from 1 to 256"),
    (["remote", "modify", "origin", "link", "sideways"], "not one of"),
    (["remote", "modify", "origin", "colour", "red"], "not a remote setting"),
    (["remote", "modify", "origin", "url", "--unset"], "needs its url"),
    (["remote", "add", "origin", "/elsewhere"], "already exists"),
])
def test_bad_remote_commands_change_nothing(repo: Path, tmp_path: Path, args: list[str], message: str) -> None:
    assert gm_run(["remote", "add", "origin", str(tmp_path / "store")]).code == 0
    before = (repo / ".gitmodel/config.toml").read_text()
    r = gm_run(args)
    assert r.code == 1 and message in r.err, r
    assert len(r.err.strip().splitlines()) == 1
    assert (repo / ".gitmodel/config.toml").read_text() == before
    assert not (repo / ".gitmodel/config.local.toml").exists()


def test_redact() -> None:
    assert redact(f"s3://AKIAEXAMPLE:{SECRET}@bucket/prefix") == "s3://***@bucket/prefix"
    assert redact("https://user:pw@example.com/repo.git") == "https://***@example.com/repo.git"
    assert redact("https://acct.blob.example/c?sv=2020&sig=abc%2Fdef&se=1") == \
        "https://acct.blob.example/c?sv=2020&sig=***&se=1"
    assert redact("s3://bucket/prefix") == "s3://bucket/prefix"
    assert redact("/plain/path") == "/plain/path"


def test_a_url_with_credentials_stays_out_of_git_and_of_messages(repo: Path) -> None:
    url = f"s3://AKIAEXAMPLE:{SECRET}@bucket/prefix"
    r = gm_run(["remote", "add", "origin", url])
    assert r.code == 1 and "--local" in r.err and SECRET not in r.err and "***@bucket" in r.err
    assert "remote" not in config(repo)
    r = gm_run(["remote", "add", "origin", url, "--local"])
    assert r.code == 0 and SECRET not in r.out
    assert "remote" not in config(repo)
    assert config(repo, local=True)["remote"]["origin"]["url"] == url  # type: ignore[index]
    assert "config.local.toml" in (repo / ".gitmodel/.gitignore").read_text()
    listed = gm_run(["remote", "list"]).out + gm_run(["remote", "list", "--json"]).out
    assert SECRET not in listed and "s3://***@bucket/prefix" in listed


def test_secret_settings_only_with_local(repo: Path) -> None:
    assert gm_run(["remote", "add", "origin", "s3://bucket/p"]).code == 0
    r = gm_run(["remote", "modify", "origin", "secret_access_key", SECRET])
    assert r.code == 1 and "--local" in r.err and SECRET not in r.err
    r = gm_run(["remote", "modify", "origin", "secret_access_key", SECRET, "--local"])
    assert r.code == 0 and SECRET not in r.out
    assert SECRET not in (repo / ".gitmodel/config.toml").read_text()
    rows = json.loads(gm_run(["remote", "list", "--json"]).out)
    assert rows[0]["settings"]["secret_access_key"] == "***"


def test_a_committed_secret_is_refused(repo: Path) -> None:
    populate(repo)
    add_commit(repo)
    with open(repo / ".gitmodel/config.toml", "a") as f:
        f.write(f'\n[remote.origin]\nurl = "s3://bucket/p"\nsecret_access_key = "{SECRET}"\n')
    r = gm_run(["push", "-r", "origin"])
    assert r.code == 1 and "committed config" in r.err and "secret_access_key" in r.err
    assert SECRET not in r.err


def test_credentials_from_the_url_reach_s3_and_never_a_message(repo: Path, s3_bucket: str, s3_env: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    populate(repo)
    add_commit(repo)
    # The test server accepts any key; the point is that they are used and never shown.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert gm_run(["remote", "add", "origin", f"s3://testing:{SECRET}@{s3_bucket}/p", "--local", "--default"]).code == 0
    assert gm_run(["remote", "modify", "origin", "endpoint_url", s3_env, "--local"]).code == 0
    r = gm_run(["push"])
    assert r.code == 0, r
    assert SECRET not in r.out + r.err and "***@" in r.out
    assert gm_run(["remote", "modify", "origin", "url", f"s3://testing:{SECRET}@no-such-bucket-zz/p",
                   "--local"]).code == 0
    r = gm_run(["push", "--check-remote"])
    assert r.code == 1 and "does not exist" in r.err and SECRET not in r.err


def test_a_local_remote_settings_overlay(repo: Path, tmp_path: Path) -> None:
    """Team settings committed; a per-user override in the local file wins."""
    populate(repo)
    add_commit(repo)
    assert gm_run(["remote", "add", "origin", str(tmp_path / "team"), "--default"]).code == 0
    assert gm_run(["remote", "modify", "origin", "url", str(tmp_path / "mine"), "--local"]).code == 0
    git("add", "-A")
    assert gm_run(["push", "-q"]).code == 0
    assert (tmp_path / "mine" / "objects").is_dir() and not (tmp_path / "team").exists()


def test_the_library_edits_remotes_without_printing(repo: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """gitmodel.remote.config is what the CLI calls; the Python API adds a
    remote the same way, and neither prints."""
    import gitmodel
    from gitmodel.errors import ConfigError
    from gitmodel.remote import config as remotes
    from gitmodel.repo import Repo

    done = gitmodel.remote_add("storage", str(tmp_path / "store"), default=True)
    assert (done.action, done.name, done.file, done.default) == ("added", "storage", ".gitmodel/config.toml", True)
    r = Repo.discover()
    secret_url = f"s3://AKIAEXAMPLE:{SECRET}@bucket/p"
    with pytest.raises(ConfigError, match="--local"):
        remotes.add(r, "cloud", secret_url)
    added = remotes.add(r, "cloud", secret_url, local=True)
    assert added.local and SECRET not in str(added)
    changed = remotes.modify(r, "cloud", "secret_access_key", SECRET, local=True)
    assert (changed.action, changed.key, changed.value) == ("modified", "secret_access_key", "***")
    rows = {row.name: row for row in remotes.list_remotes(Repo.discover())}
    assert rows["storage"].default and rows["storage"].source == "committed"
    assert rows["cloud"].source == "local" and SECRET not in repr(rows["cloud"])
    assert remotes.set_default(r, "cloud", local=True).default
    assert remotes.get_default(Repo.discover()) == "cloud"
    assert remotes.remove(Repo.discover(), "cloud").action == "removed"
    assert [row.name for row in remotes.list_remotes(Repo.discover())] == ["storage"]
    assert capsys.readouterr().out == ""
    assert SECRET not in (repo / ".gitmodel" / "config.toml").read_text()
