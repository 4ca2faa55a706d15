"""Issue 13, class 9 (and the remote-name item of class 8): configuration
mistakes are errors, not bugs.  Each setting is checked where it is set
(`remote add` / `remote modify` refuse it) and again where it is used, since
a committed config from a stranger never went through `remote add`: one line,
exit 1, never a traceback (exit 3), never a hang, nothing written outside
the work tree and nothing in `.git` but gitmodel's own cache."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import GM, Result, assert_one_line_error, gm_proc, gm_run
from tests.support.files import write, write_files
from tests.support.git import clone, commit_with_hooks, commit_without_hooks, git, make_repo, run_git
from tests.support.remote import free_port
from tests.support.store import cache_root

CONFIG = Path(".gitmodel") / "config.toml"
# What a clone runs against its remote; each must refuse a bad remote config in one line.
REMOTE_COMMANDS = [("push",), ("pull",), ("fetch",)]


# -- building hostile repositories ---------------------------------------------------

def _control_state(root: Path) -> dict[str, str]:
    """`.git` as git reads it (hooks, config, refs...), gitmodel's cache left out: {path: hash}."""
    out: dict[str, str] = {}
    dotgit = root / ".git"
    cache = cache_root(root)
    for folder, dirs, files in os.walk(dotgit):
        if Path(folder) == cache.parent:
            dirs[:] = [d for d in dirs if d != cache.name]
        for name in files:
            p = Path(folder, name)
            if p.name == "index" and p.parent == dotgit:
                continue  # git refreshes its stat data at will
            out[str(p.relative_to(dotgit))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _tree(top: Path) -> dict[str, bytes]:
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every work tree that no command may touch."""
    folder = tmp_path / "outside"
    write_files(folder, {"precious.txt": b"not gitmodel's", "sub/more.txt": b"nor this"})
    return folder


def hostile_clone(tmp_path: Path, config_tail: str) -> Path:
    """A repository with one tracked model whose committed config ends with
    `config_tail` (written by hand, as an attacker would: never through
    `remote add`), cloned; returns the clone."""
    origin = make_repo(tmp_path / "origin")
    write(origin, "model.bin", os.urandom(2000))
    r = gm_run(["add", "model.bin"], cwd=origin)
    assert r.code == 0, r
    cfg = origin / CONFIG
    cfg.write_text(cfg.read_text() + "\n" + config_tail)
    commit_without_hooks(origin, "a model and a remote")
    return clone(origin, tmp_path / "clone")


def assert_refused_everywhere(root: Path, outside: Path, *needles: str,
                              commands: list[tuple[str, ...]] = REMOTE_COMMANDS) -> None:
    """Each command exits 1 with one line holding `needles`; `.git` and
    `outside` are as they were."""
    control, kept = _control_state(root), _tree(outside)
    for args in commands:
        started = time.monotonic()
        r = gm_run(list(args), cwd=root)
        assert_one_line_error(r, *needles)
        assert time.monotonic() - started < 30, (args, "took too long")
    assert _control_state(root) == control, ".git changed"
    assert _tree(outside) == kept, "a file outside the work tree changed"
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt", "sub"]


# -- remote names: the one rule, where set and where read ---------------------------------

@pytest.mark.parametrize("name", ["my.remote", "a.b.c", "..", "a/b", "/abs/path", "-x", "_x", "a b", "x" * 65,
                                  "caf\u00e9", "tab\there"])
def test_remote_add_refuses_a_name_outside_the_rule(repo: Path, gm: GM, name: str, tmp_path: Path) -> None:
    """A dotted name used to be accepted and then never found again (TOML
    nests `[remote.a.b]`); now add refuses it, saying the rule."""
    before = (repo / CONFIG).read_bytes()
    r = gm("remote", "add", "--", name, str(tmp_path / "store"))
    assert_one_line_error(r, "is not a valid remote name", "no '.'")
    assert (repo / CONFIG).read_bytes() == before


@pytest.mark.parametrize("name", ["origin", "team-store", "s3_backup", "A1", "x" * 64])
def test_names_inside_the_rule_work_end_to_end(repo: Path, gm: GM, name: str, tmp_path: Path) -> None:
    write(repo, "m.bin", b"weights")
    assert gm("add", "m.bin").code == 0
    assert gm("remote", "add", name, str(tmp_path / "store")).code == 0
    assert gm("remote", "modify", name, "jobs", "2").code == 0
    r = gm("push", "-r", name)
    assert r.code == 0, r
    assert gm("remote", "remove", name).code == 0


@pytest.mark.parametrize("key", ['"my.remote"', '"../../hooks"', '"a/b"', '"-x"'])
def test_a_committed_remote_name_outside_the_rule_is_refused_by_every_command(
        tmp_path: Path, outside: Path, key: str) -> None:
    clone_root = hostile_clone(tmp_path, f'[remote.{key}]\nurl = "{tmp_path / "store"}"\n')
    assert_refused_everywhere(clone_root, outside, "is not a valid remote name",
                              commands=[*REMOTE_COMMANDS, ("remote", "list"), ("fsck", "-r", key.strip('"'))])


def test_a_committed_remote_named_by_an_absolute_path_never_reaches_it(tmp_path: Path, outside: Path) -> None:
    """The name becomes `<cache>/remotes/NAME/`, and os.path.join drops the
    cache for an absolute NAME: a committed `[remote."/home/you"]` made push
    write `known` and `identity` there, and `remote remove` deleted the folder."""
    name = str(outside)
    clone_root = hostile_clone(tmp_path, f'[remote."{name}"]\nurl = "{tmp_path / "store"}"\n')
    assert_refused_everywhere(clone_root, outside, "is not a valid remote name",
                              commands=[*REMOTE_COMMANDS, ("push", "-r", name), ("gc", "-r", name)])
    # Removing it is how the config is mended: the table goes, the folder stays.
    r = gm_run(["remote", "remove", name], cwd=clone_root)
    assert r.code == 0, r
    assert name not in (clone_root / CONFIG).read_text()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt", "sub"]


def test_a_dotted_table_says_that_names_cannot_hold_dots(tmp_path: Path, outside: Path) -> None:
    """`[remote.team.models]` is TOML for remote 'team' holding a table."""
    clone_root = hostile_clone(tmp_path, f'[remote.team.models]\nurl = "{tmp_path / "store"}"\n')
    assert_refused_everywhere(clone_root, outside, "[remote.team.models]", "cannot contain '.'",
                              commands=[*REMOTE_COMMANDS, ("push", "-r", "team")])


# -- S3 endpoint_url, region, timeout ---------------------------------------------------------

BAD_ENDPOINTS = ["minio:9000", "http://", "http://a b", "ftp://x", "http://127.0.0.1:99999", "http://127.0.0.1:0",
                 "http://127.0.0.1:port", "http://[::1", "http://h\u00f4te", "", " http://127.0.0.1:9000"]
BAD_REGIONS = ["us east 1", "", "\u00fc-region", "us-east-1/../x", "-us", "x" * 64]


@pytest.fixture
def s3_remote(repo: Path, gm: GM) -> Path:
    assert gm("remote", "add", "s", "s3://bucket/prefix", "--default").code == 0
    return repo


@pytest.mark.parametrize("value", BAD_ENDPOINTS)
def test_remote_modify_refuses_a_malformed_endpoint_url(s3_remote: Path, gm: GM, value: str) -> None:
    before = (s3_remote / CONFIG).read_bytes()
    assert_one_line_error(gm("remote", "modify", "s", "endpoint_url", "--", value), "remote.s.endpoint_url")
    assert (s3_remote / CONFIG).read_bytes() == before


@pytest.mark.parametrize("value", BAD_REGIONS)
def test_remote_modify_refuses_a_malformed_region(s3_remote: Path, gm: GM, value: str) -> None:
    before = (s3_remote / CONFIG).read_bytes()
    assert_one_line_error(gm("remote", "modify", "s", "region", "--", value), "remote.s.region")
    assert (s3_remote / CONFIG).read_bytes() == before


@pytest.mark.parametrize("value", ["0", "-1", "soon", "1e9", "nan"])
def test_remote_modify_refuses_a_timeout_that_is_not_seconds(s3_remote: Path, gm: GM, value: str) -> None:
    assert_one_line_error(gm("remote", "modify", "s", "timeout", "--", value), "remote.s.timeout")


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("setting", [f"endpoint_url = {_toml(v)}" for v in BAD_ENDPOINTS]
                         + [f"region = {_toml(v)}" for v in BAD_REGIONS]
                         + ["endpoint_url = 9000", "region = [1]", "timeout = 0", "timeout = true"])
def test_a_committed_malformed_s3_setting_is_one_line_before_anything_is_contacted(
        tmp_path: Path, outside: Path, setting: str) -> None:
    """Before, these reached boto3: `minio:9000` or `http://` raised its
    ValueError (exit 3), a bad region said boto3's own words."""
    clone_root = hostile_clone(tmp_path, f'[remote.s]\nurl = "s3://bucket/prefix"\n{setting}\n')
    assert_refused_everywhere(clone_root, outside, "remote.s.")


def test_checked_s3_settings_still_reach_a_real_server(repo: Path, gm: GM, s3_bucket: str, s3_env: str) -> None:
    """The checks take what a real endpoint needs (moto's server on 127.0.0.1)."""
    assert gm("remote", "add", "s", f"s3://{s3_bucket}/team", "--default").code == 0
    for key, value in (("endpoint_url", s3_env), ("region", "us-east-1"), ("timeout", "5")):
        r = gm("remote", "modify", "s", key, value)
        assert r.code == 0, r
    write(repo, "m.bin", b"weights for s3")
    assert gm("add", "m.bin").code == 0
    r = gm("push")
    assert r.code == 0 and "pushed 1 object" in r.out, r
    (repo / "m.bin").unlink()
    shutil.rmtree(cache_root(repo) / "objects")
    r = gm("pull")
    assert r.code == 0, r
    assert (repo / "m.bin").read_bytes() == b"weights for s3"


# -- endpoints that cannot be reached, or never answer ----------------------------------------

@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + 60  # bounded, whatever the test does
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        stop.set()
        t.join(5)
        for conn in held:
            conn.close()
        srv.close()


def _push_to(repo: Path, gm: GM, url: str, *settings: tuple[str, str]) -> tuple[Result, float]:
    write(repo, "m.bin", b"weights")
    assert gm("add", "m.bin").code == 0
    assert gm("remote", "add", "r", url).code == 0
    for key, value in settings:
        assert gm("remote", "modify", "r", key, value).code == 0
    started = time.monotonic()
    r = gm_proc("push", "-r", "r", cwd=repo, timeout=60)
    return r, time.monotonic() - started


def test_an_s3_endpoint_nobody_listens_on_is_one_line_at_once(repo: Path, gm: GM, aws_keys: None) -> None:
    r, took = _push_to(repo, gm, "s3://bucket/p", ("endpoint_url", f"http://127.0.0.1:{free_port()}"))
    assert_one_line_error(r, "cannot reach the endpoint")
    assert took < 15, took


def test_an_s3_endpoint_that_never_answers_costs_the_timeout_not_minutes(
        repo: Path, gm: GM, aws_keys: None, silent_server: int) -> None:
    """Accepted and never answered: botocore's 120 s read timeout times five
    attempts times gitmodel's own retries was most of an hour; the bucket
    check waits `timeout`, twice at most, and is not retried."""
    r, took = _push_to(repo, gm, "s3://bucket/p", ("endpoint_url", f"http://127.0.0.1:{silent_server}"),
                       ("timeout", "0.5"))
    assert_one_line_error(r, "did not answer within 0.5 s")
    assert took < 15, took


def test_an_fsspec_url_nobody_listens_on_is_one_line(repo: Path, gm: GM) -> None:
    """ftp:// connects when its filesystem is made: a refused connection was
    an unexpected ConnectionRefusedError (exit 3)."""
    r, took = _push_to(repo, gm, f"ftp://127.0.0.1:{free_port()}/models")
    assert_one_line_error(r, "cannot reach it")
    assert took < 15, took


# -- fsspec protocols, memory:// ----------------------------------------------------------------

def _refused_urls() -> list[tuple[str, str]]:
    cases = [("foo://x", "is not a kind of remote"), ("a b://x", "is neither a folder path nor a URL"),
             ("://x", "is neither a folder path nor a URL"), ("memory://x", "keeps nothing after the command ends"),
             ("MEMORY://root/x", "keeps nothing after the command ends"), ("s3://[x/p", "is not a valid URL")]
    if importlib.util.find_spec("gcsfs") is None:
        cases.append(("gs://bucket/p", "need a package that is not installed"))
    return cases


@pytest.mark.parametrize(("url", "said"), _refused_urls())
def test_remote_add_refuses_a_url_that_can_never_work(repo: Path, gm: GM, url: str, said: str) -> None:
    before = (repo / CONFIG).read_bytes()
    assert_one_line_error(gm("remote", "add", "r", url), said)
    assert (repo / CONFIG).read_bytes() == before


@pytest.mark.parametrize(("url", "said"), _refused_urls())
def test_a_committed_url_that_can_never_work_is_one_line(tmp_path: Path, outside: Path, url: str, said: str) -> None:
    """memory:// in particular: push said "pushed" and the objects were gone
    when the process ended."""
    clone_root = hostile_clone(tmp_path, f"[remote.r]\nurl = {_toml(url)}\n")
    assert_refused_everywhere(clone_root, outside, said)


def test_memory_still_serves_the_backend_api_in_one_process() -> None:
    """The conformance suite builds fsspec backends directly: memory:// is
    refused as a configured remote, not as a filesystem."""
    import uuid

    from gitmodel.remote.fsspec import FsspecBackend

    root = f"memory:///gm-api-{uuid.uuid4().hex[:12]}"
    b = FsspecBackend("t", root, root, {})
    try:
        assert b.put_bytes("k/one", b"value")
        assert b.stat("k/one") is not None and b.get_range("k/one", 0, 5) == b"value"
    finally:
        b.delete("k/one")


# -- the cache and folder remotes with folders deleted by hand ---------------------------------

def _many_small(root: Path, folder: str, n: int = 40) -> None:
    write_files(root, {f"{folder}/f{i}.txt": b"small %d" % i for i in range(n)})


@pytest.mark.parametrize("gone", ["packs", "objects", "tmp"])
def test_a_cache_folder_deleted_by_hand_is_made_again(repo: Path, gm: GM, tmp_path: Path, gone: str) -> None:
    """A deleted `packs/` made add (packing small files) and pull (installing
    a downloaded pack) fail with an unexpected FileNotFoundError (exit 3)."""
    store = tmp_path / "store"
    assert gm("remote", "add", "o", str(store), "--default").code == 0
    _many_small(repo, "data")
    assert gm("add", "data").code == 0 and gm("push").code == 0
    commit_without_hooks(repo, "data")
    shutil.rmtree(cache_root(repo) / gone)
    _many_small(repo, "more")
    r = gm("add", "more")
    assert r.code == 0, r
    shutil.rmtree(cache_root(repo) / gone)
    r = gm("pull")
    assert r.code == 0, r
    assert gm("fsck").code == 0
    copy = clone(repo, tmp_path / "copy")
    r = gm_proc("pull", cwd=copy)
    assert r.code == 0, r
    assert (copy / "data" / "f7.txt").read_bytes() == b"small 7"


def test_a_cache_folder_that_is_a_file_is_one_line(repo: Path, gm: GM) -> None:
    shutil.rmtree(cache_root(repo) / "packs")
    (cache_root(repo) / "packs").write_bytes(b"")
    _many_small(repo, "data")
    assert_one_line_error(gm("add", "data"), "is a file where the cache needs a folder")


@pytest.mark.parametrize("gone", ["packs", "objects"])
def test_a_folder_remote_with_a_folder_deleted_by_hand_is_mended_by_a_checked_push(
        repo: Path, gm: GM, tmp_path: Path, gone: str) -> None:
    """fsck -r says what is missing; `push --check-remote` (what its hint
    says) uploads it again, and a fresh clone gets everything."""
    store = tmp_path / "store"
    assert gm("remote", "add", "o", str(store), "--default").code == 0
    _many_small(repo, "data")
    write(repo, "model.bin", os.urandom(5000))
    assert gm("add", "data", "model.bin").code == 0 and gm("push").code == 0
    commit_without_hooks(repo, "data")
    shutil.rmtree(store / gone)
    r = gm("fsck", "-r", "o")
    assert r.code == 1 and "Traceback" not in r.err, r
    r = gm("push", "--check-remote")
    assert r.code == 0, r
    assert gm("fsck", "-r", "o").code == 0
    copy = clone(repo, tmp_path / "copy")
    r = gm_proc("pull", cwd=copy)
    assert r.code == 0, r
    assert _tree(copy / "data") == _tree(repo / "data")
    assert git("status", "--porcelain", cwd=copy).strip() == ""


def test_a_bad_remote_name_in_a_checked_out_config_does_not_stop_the_checkout(tmp_path: Path) -> None:
    """post-checkout fetches what the cache lacks, from the configured
    remotes: a config it cannot use is said once, and the files whose
    content is in the cache are still checked out."""
    root = make_repo(tmp_path / "repo")
    write(root, "model.bin", b"version one")
    assert gm_run(["add", "model.bin"], cwd=root).code == 0
    commit_with_hooks(root, "v1")
    write(root, "model.bin", b"version two")
    assert gm_run(["add", "model.bin"], cwd=root).code == 0
    cfg = root / CONFIG
    cfg.write_text(cfg.read_text() + f'\n[remote."a.b"]\nurl = "{tmp_path / "store"}"\n')
    commit_with_hooks(root, "v2, and a remote config from elsewhere")
    done = run_git(root, "checkout", "-q", "HEAD~1")
    assert done.returncode == 0, done.stderr
    assert (root / "model.bin").read_bytes() == b"version one"
    done = run_git(root, "checkout", "-q", "-")
    assert done.returncode == 0, done.stderr
    assert (root / "model.bin").read_bytes() == b"version two"
    assert "is not a valid remote name" in done.stderr and "Traceback" not in done.stderr


# -- any remote table at all: a backend or one line -----------------------------------------------

def test_any_remote_table_gives_a_backend_or_a_one_line_error(tmp_path: Path) -> None:
    """Property: whatever a committed `[remote.*]` table holds (names, URLs,
    settings of any TOML type), reading it and opening its backend (which
    contacts nothing) gives a backend or a GitmodelError, never another
    exception; and the backend's name is one the rule allows."""
    import tomlkit
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from gitmodel.config import Config
    from gitmodel.errors import GitmodelError
    from gitmodel.remote.spec import NAME_RE, open_backend, spec_from_config

    schemes = st.sampled_from(["", "s3://", "file://", "memory://", "foo://", "gs://", "ftp://", "S3://", "a b://",
                               "://", "http://", "s3a://"])
    text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
    urls = st.builds(lambda s, rest: s + rest, schemes, text)
    values = st.one_of(text, st.integers(-10, 10**6), st.booleans(), st.floats(allow_nan=True),
                       st.lists(text, max_size=2), urls, st.sampled_from(["http://127.0.0.1:9000", "us-east-1", "5"]))
    table = st.dictionaries(st.sampled_from(["url", "endpoint_url", "region", "timeout", "jobs", "link", "profile"]),
                            values, max_size=5)
    names = st.one_of(st.sampled_from(["origin", "a.b", "/abs", "..", "x-1"]), text.filter(bool))
    remotes = st.dictionaries(names, st.one_of(table, st.builds(lambda u: {"url": u}, urls)), min_size=1, max_size=3)
    root = tmp_path / "r"
    (root / ".gitmodel").mkdir(parents=True)
    cfg_file = root / ".gitmodel" / "config.toml"

    @settings(max_examples=300, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(remotes, st.one_of(st.none(), names), st.one_of(st.none(), names, values))
    def check(tables: dict[str, dict[str, object]], asked: str | None, default: object) -> None:
        doc: dict[str, object] = {"remote": tables}
        if default is not None:
            doc["core"] = {"remote": default}
        cfg_file.write_text(tomlkit.dumps(doc))
        try:
            spec = spec_from_config(Config(str(root)), asked, str(root))
            backend = open_backend(spec)
        except GitmodelError as e:
            assert "\n" not in str(e), str(e)
            return
        assert NAME_RE.match(backend.name), backend.name

    check()
