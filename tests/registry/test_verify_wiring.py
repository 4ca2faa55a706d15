"""Verification where a version is chosen: `gitmodel.load`, `gitmodel.open`
and `gitmodel get` refuse what `gitmodel verify` refuses, before a byte of
the model is read or written, with real ssh-keygen keys, tags signed by git,
a real folder remote and a real clone by URL; and `[security] pickle =
"verified"` unpickles only a verified version."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import gitmodel
from gitmodel.errors import ConfigError, GitmodelError
from gitmodel.registry.signing import SignatureError
from gitmodel.serialize import UnsafeFormatError
from tests.support.cli import GM, assert_one_line_error
from tests.support.git import git
from tests.support.signing import allow, as_, config, fp, make_keys, signers_text

if shutil.which("ssh-keygen") is None:
    pytest.skip("ssh-keygen is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_keys(tmp_path_factory.mktemp("keys"))


def ok(gm: GM, *args: str, cwd: Path | None = None) -> str:
    r = gm(*args, cwd=cwd)
    assert r.code == 0, r
    return r.out


@pytest.fixture
def clf(repo: Path, gm: GM, keys: dict[str, Path], tmp_path: Path) -> Path:
    """clf saved as a pickle with the API, v1.0.0 signed by alice and in
    prod (signed), v1.1.0 unsigned and in staging (unsigned); pushed to a
    folder remote; alice and bob are allowed signers."""
    ok(gm, "remote", "add", "storage", str(tmp_path / "storage"), "--default")
    allow(repo, keys, "alice", "bob")
    as_(repo, keys["alice"])
    gitmodel.save({"n": 1}, "models/clf.pkl", name="clf")
    git("commit", "-qm", "train 1", cwd=repo)
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    gitmodel.save({"n": 2}, "models/clf.pkl", name="clf")
    git("commit", "-qm", "train 2", cwd=repo)
    ok(gm, "tag", "clf", "v1.1.0", "--no-sign")
    ok(gm, "promote", "clf", "v1.1.0", "staging", "--no-sign")
    ok(gm, "push")
    ok(gm, "push", "--all-tags")
    return repo


def drop_cache(root: Path) -> Path:
    """Empty the cache, so any read of a model must fetch it; returns the objects folder."""
    objects = root / ".git" / "gitmodel" / "objects"
    shutil.rmtree(objects)
    objects.mkdir()
    if (root / ".git" / "gitmodel" / "state.db").exists():
        os.unlink(root / ".git" / "gitmodel" / "state.db")  # what the cache remembers having
    return objects


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_load_and_open_with_verify_take_signed_versions_and_refuse_before_reading(clf: Path) -> None:
    assert gitmodel.load("clf#prod", verify=True) == {"n": 1}
    assert gitmodel.load("clf@v1.0.0", verify=True) == {"n": 1}
    assert gitmodel.load("models/clf.pkl", rev="clf@v1.0.0", verify=True) == {"n": 1}  # a version as the rev
    with gitmodel.open("clf#prod", verify=True) as f:
        assert f.read() == gitmodel.read_bytes("clf@v1.0.0", verify=True)
    objects = drop_cache(clf)
    for ref in ("clf#staging", "clf@v1.1.0", "clf@latest"):
        with pytest.raises(SignatureError, match="tag clf[@#]\\S+ is not signed"):
            gitmodel.load(ref, verify=True)
        with pytest.raises(SignatureError, match="is not signed"):
            gitmodel.open(ref, verify=True)
    assert files_in(objects) == []  # refused before a byte was fetched
    with pytest.raises(SignatureError, match="models/clf.pkl in the workspace is not a version reference"):
        gitmodel.load("models/clf.pkl", verify=True)
    with pytest.raises(SignatureError, match="at HEAD is not a version reference"):
        gitmodel.open("models/clf.pkl", rev="HEAD", verify=True)
    assert gitmodel.load("clf#staging") == {"n": 2}  # no require_signature: not verified by default


def test_a_foreign_key_re_promotion_is_refused_and_a_required_stage_verifies_by_default(
        clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    as_(clf, keys["mallory"])
    ok(gm, "promote", "clf", "v1.1.0", "prod", "--sign")
    with pytest.raises(SignatureError, match=re.escape(f"tag clf#prod#3 is signed by key {fp(keys['mallory'])}")):
        gitmodel.load("clf#prod", verify=True)
    assert gitmodel.load("clf#prod") == {"n": 2}  # without require_signature, the default trusts the tags
    config(clf, "[registry.stage.prod]\nrequire_signature = true\n")
    with pytest.raises(SignatureError, match="which .gitmodel/allowed_signers does not list"):
        gitmodel.load("clf#prod")  # required: verified by default
    with pytest.raises(SignatureError):
        gitmodel.open("clf#prod")
    with pytest.raises(SignatureError):
        gitmodel.load("clf#prod", verify=False)  # a committed requirement: no caller turns it off
    as_(clf, keys["bob"])
    ok(gm, "promote", "clf", "v1.0.0", "prod")  # required: signed without --sign
    assert gitmodel.load("clf#prod") == {"n": 1}


def test_a_pinned_allowed_signers_file_decides(clf: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    pinned = tmp_path / "pinned_signers"
    pinned.write_text(signers_text(keys, "bob"))
    said = f"signed by key {fp(keys['alice'])}, which {pinned} does not list"
    with pytest.raises(SignatureError, match=re.escape(said)):
        gitmodel.load("clf#prod", allowed_signers=pinned)  # a pinned file means verify
    pinned.write_text(signers_text(keys, "alice"))
    assert gitmodel.load("clf#prod", allowed_signers=pinned) == {"n": 1}


def test_pickle_verified_unpickles_only_a_verified_version(clf: Path, gm: GM) -> None:
    config(clf, '[security]\npickle = "verified"\n')
    assert gitmodel.load("clf#prod") == {"n": 1}
    assert gitmodel.load("clf@v1.0.0") == {"n": 1}
    assert gitmodel.load("models/clf.pkl", rev="clf@v1.0.0") == {"n": 1}
    with pytest.raises(SignatureError, match="tag clf@v1.1.0 is not signed"):
        gitmodel.load("clf@v1.1.0")
    with pytest.raises(SignatureError, match='in the workspace is not a version reference.*pickle = "verified"'):
        gitmodel.load("models/clf.pkl")  # a workspace file has no signature
    # Bytes are not unpickled: reading them stays allowed.
    assert gitmodel.read_bytes("models/clf.pkl")[:1] == b"\x80"
    with pytest.raises(UnsafeFormatError, match='pickle = "never"'):
        gitmodel.load("clf#prod", pickle="never")  # a caller can tighten the setting, never loosen it
    with pytest.raises(SignatureError):
        gitmodel.load("clf@v1.1.0", pickle="allow")
    cfg = clf / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text().replace('pickle = "verified"', 'pickle = "maybe"'))
    with pytest.raises(ConfigError, match=r'\[security\] pickle must be "allow", "verified" or "never"') as e:
        gitmodel.load("clf#prod")
    assert "\n" not in str(e.value)


def test_the_api_passes_sign_through(clf: Path, keys: dict[str, Path]) -> None:
    gitmodel.save({"n": 3}, "models/clf.pkl", name="clf")
    git("commit", "-qm", "train 3", cwd=clf)
    assert gitmodel.tag("clf", "v1.2.0", sign=True).tag == "clf@v1.2.0"
    gitmodel.promote("clf", "v1.2.0", "canary", sign=True)
    assert gitmodel.load("clf#canary", verify=True) == {"n": 3}
    gitmodel.promote("clf", "v1.2.0", "beta", sign=False)
    with pytest.raises(SignatureError, match="is not signed"):
        gitmodel.load("clf#beta", verify=True)


# -- gitmodel get --verify URL clf#prod -------------------------------------------------------------

@pytest.fixture
def url(clf: Path, tmp_path: Path) -> str:
    bare = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(clf), str(bare))
    return f"file://{bare}"


def test_get_verify_from_a_url_with_a_pinned_file(url: str, gm: GM, tmp_path: Path, keys: dict[str, Path]) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    pinned = tmp_path / "pinned_signers"
    pinned.write_text(signers_text(keys, "alice"))
    r = gm("get", "--verify", "--allowed-signers", str(pinned), url, "clf#prod", "-o", "clf.pkl", cwd=deploy)
    assert r.code == 0 and "got models/clf.pkl at clf#prod (commit " in r.out, r
    assert "verified: clf#prod is signed by alice@example.com (2 tags checked)" in r.out, r
    assert gitmodel.serialize.load((deploy / "clf.pkl").read_bytes(), "clf.pkl", "clf.pkl") == {"n": 1}
    # Against its committed file, in the clone: the same answer.
    data = json.loads(ok(gm, "get", "--json", "--verify", url, "clf#prod", "-o", "committed.pkl", cwd=deploy))
    assert data["verified"]["ok"] is True and [t["role"] for t in data["verified"]["tags"]] == ["stage", "version"]
    # Refused: nothing written, no temp folder left.
    before = sorted(os.listdir(deploy))
    assert_one_line_error(gm("get", "--verify", url, "clf#staging", "-o", "s.pkl", cwd=deploy),
                          "clf#staging: tag clf#staging#2 is not signed")
    pinned.write_text(signers_text(keys, "bob"))
    assert_one_line_error(gm("get", "--allowed-signers", str(pinned), url, "clf#prod", "-o", "p.pkl", cwd=deploy),
                          f"signed by key {fp(keys['alice'])}, which {pinned} does not list")
    assert_one_line_error(gm("get", "--verify", url, "models/clf.pkl", "-o", "w.pkl", cwd=deploy),
                          "models/clf.pkl at HEAD is not a version reference")
    assert sorted(os.listdir(deploy)) == before
    # Without --verify, a version reference is still understood.
    assert "verified" not in ok(gm, "get", url, "clf#staging", "-o", "staging.pkl", cwd=deploy)
    assert gitmodel.serialize.load((deploy / "staging.pkl").read_bytes(), "x.pkl", "x") == {"n": 2}


def test_get_verifies_a_required_stage_by_default_in_the_clone(clf: Path, url: str, gm: GM, tmp_path: Path,
                                                               keys: dict[str, Path]) -> None:
    as_(clf, keys["mallory"])
    ok(gm, "promote", "clf", "v1.1.0", "prod", "--sign")
    config(clf, "[registry.stage.prod]\nrequire_signature = true\n")
    bare = tmp_path / "origin2.git"
    git("clone", "-q", "--bare", str(clf), str(bare))
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    assert_one_line_error(gm("get", f"file://{bare}", "clf#prod", cwd=deploy), "tag clf#prod#3 is signed by key")
    assert os.listdir(deploy) == []
    assert_one_line_error(gm("get", "--no-verify", f"file://{bare}", "clf#prod", cwd=deploy),
                          "No such option: --no-verify")  # nothing turns a committed requirement off
    ok(gm, "get", f"file://{bare}", "clf#staging", cwd=deploy)  # staging requires nothing
    assert (deploy / "clf.pkl").is_file()
    # The Python API by URL: the same decision, in its own clone.
    with pytest.raises(SignatureError, match="tag clf#prod#3 is signed by key"):
        gitmodel.load("clf#prod", repo=f"file://{bare}")
    assert gitmodel.load("clf@v1.0.0", repo=f"file://{bare}", verify=True) == {"n": 1}


def test_a_url_source_refuses_pickles_by_its_committed_setting(clf: Path, tmp_path: Path) -> None:
    config(clf, '[security]\npickle = "never"\n')
    bare = tmp_path / "origin3.git"
    git("clone", "-q", "--bare", str(clf), str(bare))
    for ref in ("clf@v1.0.0", "models/clf.pkl"):
        with pytest.raises(UnsafeFormatError, match='pickle = "never"'):
            gitmodel.load(ref, repo=f"file://{bare}")
    assert gitmodel.read_bytes("clf@v1.0.0", repo=f"file://{bare}", verify=True)[:1] == b"\x80"


def test_verified_reads_are_bound_to_the_file_and_oid_the_signed_tag_names(clf: Path, gm: GM, url: str,
                                                                          tmp_path: Path) -> None:
    # A later commit re-declares clf as another file: the signed snapshot still says which file v1.0.0 is.
    gitmodel.save({"n": 9}, "models/other.pkl")
    ok(gm, "model", "add", "clf", "models/other.pkl", "--replace")
    git("commit", "-qm", "clf is another file now", cwd=clf)
    with pytest.raises(GitmodelError, match="models/other.pkl"):
        gitmodel.load("clf@v1.0.0")  # unverified: the declaration decides, and v1.0.0 has no such file
    assert gitmodel.load("clf@v1.0.0", verify=True) == {"n": 1}
    # A validly signed tag whose snapshot names an oid its commit does not hold.
    message = git("cat-file", "tag", "clf@v1.0.0", cwd=clf).split("\n\n", 1)[1].split("-----BEGIN SSH")[0]
    real = gitmodel.versions("clf")[-1]["artifact"]["oid"]
    forged = message.replace("v1.0.0", "v1.0.5").replace(real, "xxh128:" + "0" * 32)
    (tmp_path / "msg").write_text(forged)
    commit = git("rev-list", "-n1", "clf@v1.0.0", cwd=clf).strip()
    git("tag", "-s", "-F", str(tmp_path / "msg"), "clf@v1.0.5", commit, cwd=clf)
    assert gitmodel.load("models/clf.pkl", rev="clf@v1.0.5") == {"n": 1}  # unverified: the pointer decides
    with pytest.raises(SignatureError, match=f"clf@v1.0.5: models/clf.pkl at {commit[:10]} is {real}, not the "
                                             f"xxh128:0+ its signed version tag names"):
        gitmodel.load("clf@v1.0.5", verify=True)
    with pytest.raises(SignatureError, match="its signed version tag names"):
        gitmodel.open("clf@v1.0.5", verify=True)
    with pytest.raises(SignatureError, match="its signed version tag names"):
        gitmodel.load("models/clf.pkl", rev="clf@v1.0.5", verify=True)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    assert_one_line_error(gm("get", "--verify", str(clf), "clf@v1.0.5", cwd=deploy), "its signed version tag names")
    assert os.listdir(deploy) == []


def test_load_tensors_and_read_bytes_verify_too(clf: Path, gm: GM) -> None:
    import numpy as np

    gitmodel.save({"w": np.arange(4, dtype=np.float32)}, "models/llm.safetensors", name="llm")
    git("commit", "-qm", "llm", cwd=clf)
    ok(gm, "tag", "llm", "v1.0.0", "--sign")
    gitmodel.save({"w": np.zeros(2, dtype=np.float32)}, "models/llm.safetensors", name="llm")
    git("commit", "-qm", "llm 2", cwd=clf)
    ok(gm, "tag", "llm", "v1.1.0", "--no-sign")
    assert gitmodel.load_tensors("llm@v1.0.0", ["w"], verify=True)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.array_equal(gitmodel.load("llm@v1.0.0", verify=True)["w"], np.arange(4, dtype=np.float32))
    with pytest.raises(SignatureError, match="tag llm@v1.1.0 is not signed"):
        gitmodel.load_tensors("llm@v1.1.0", verify=True)
    with pytest.raises(SignatureError, match="tag llm@v1.1.0 is not signed"):
        gitmodel.read_bytes("llm@v1.1.0", verify=True)
