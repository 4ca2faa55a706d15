"""Hostile repositories, class 3: paths that come from committed data.

A model declaration (`.gitmodel/config.toml`, GTO's `artifacts.yaml`) and a
version tag's snapshot are text a stranger wrote.  Each case commits such a
path the way an attacker would (a real repository, a hand-made annotated
tag, a committed symlink), clones it with real git, and runs the commands
that read it on the clone: each refuses with one line naming the path, exit
1, before anything is written; nothing appears outside the clone, `.git`
(hooks, config) is unchanged, and no secret is printed.  The safe targets
beside the hostile one still work.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.support.cli import Result, assert_one_line_error, gm_proc, gm_run
from tests.support.files import write
from tests.support.git import add_folder_remote, clone, commit_without_hooks, git, gm_add, make_repo
from tests.support.state import git_control_state, outside_state, tree_state

SECRET = "s3cr3t-token-0123456789"
MODEL = b"the safe model\n" * 40


# -- observing: nothing outside the clone, nothing in .git -------------------------------

class Watch:
    """The clone's `.git` and everything outside it, before; `check()` after each command."""

    def __init__(self, tmp_path: Path, work: Path) -> None:
        self.tmp_path, self.work = tmp_path, work
        self.git, self.outside = git_control_state(work), outside_state(tmp_path, "clone")

    def check(self, what: str) -> None:
        assert git_control_state(self.work) == self.git, f"{what} wrote into .git"
        assert outside_state(self.tmp_path, "clone") == self.outside, f"{what} wrote outside the work tree"


def refused(r: Result, *needles: str) -> str:
    """One line, exit 1, naming the problem; the secret is never printed."""
    line = assert_one_line_error(r, *needles)
    assert SECRET not in r.out + r.err and "root:" not in r.out + r.err, r
    return line


# -- declarations -----------------------------------------------------------------------

def _declaring_origin(tmp_path: Path, key: str, value: str) -> Path:
    """An origin with a tracked models/clf.pkl and a committed [model.clf]
    whose `key` is `value` (the other keys safe); a secret sits beside it,
    out of the clone's reach, and `out` is a committed symlink leading to it."""
    write(tmp_path, "secret.json", json.dumps({"token": SECRET}))
    write(tmp_path, "outside/m.json", json.dumps({"token": SECRET}))
    origin = make_repo(tmp_path / "origin")
    write(origin, "models/clf.pkl", MODEL)
    write(origin, "metrics.json", '{"acc": 0.5}')
    gm_add(origin, "models/clf.pkl")
    os.symlink("../outside", origin / "out")
    table = {"path": "models/clf.pkl", "metrics": "metrics.json", key: [value] if key == "data" else value}
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
    with open(origin / ".gitmodel" / "config.toml", "a") as f:
        f.write(f"\n[model.clf]\n{lines}")
    commit_without_hooks(origin, "a model whose declaration names a hostile path")
    return origin


ABSOLUTE = "<absolute>"  # the secret's absolute path, filled in per test
# (key, value, what the one line says)
DECLARED = [
    ("metrics", "../secret.json", "unsafe path '../secret.json'"),
    ("metrics", "../../etc/passwd", "unsafe path '../../etc/passwd'"),
    ("metrics", ABSOLUTE, "not a plain relative path"),
    ("metrics", ".git/config", "unsafe path '.git/config' (inside .git"),
    ("metrics", ".gitmodel/config.local.toml", "inside .gitmodel/"),
    ("metrics", "out/m.json", "leads through a symlink to"),
    ("metrics", ".gitattributes", "one of git's control files"),
    ("params", "../x.json", "unsafe path '../x.json'"),
    ("params", ".git/config", "unsafe path '.git/config'"),
    ("path", ".git/hooks/post-commit", "unsafe path '.git/hooks/post-commit'"),
    ("path", ABSOLUTE, "not a plain relative path"),
    ("data", "../secret.json", "unsafe path '../secret.json'"),
]

# Every command that reads declarations.
READERS: list[tuple[str, ...]] = [
    ("metrics", "show"),
    ("metrics", "diff", "HEAD"),
    ("params", "show"),
    ("model", "list"),
    ("versions", "clf"),
    ("tag", "clf", "v1.0.0"),
    ("diff", "HEAD"),
    ("report", "--base", "HEAD"),
    ("plot", "clf", "--commits", "-o", "chart.html"),
]


@pytest.mark.parametrize(("key", "value", "says"), DECLARED, ids=[f"{k}={v}" for k, v, _ in DECLARED])
def test_a_hostile_declaration_is_refused_by_every_reader_and_by_save(tmp_path: Path, key: str, value: str,
                                                                      says: str) -> None:
    import gitmodel

    if value == ABSOLUTE:
        value = str(tmp_path / "secret.json")
    origin = _declaring_origin(tmp_path, key, value)
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    before = tree_state(work)
    for args in READERS:
        line = refused(gm_run(list(args), cwd=work), says)
        assert "[model.clf]" in line and key in line, (args, line)
        watch.check(f"`gitmodel {' '.join(args)}`")
    assert tree_state(work) == before
    # The API: gitmodel.save writes the params and metrics files the declaration names.
    with pytest.raises(gitmodel.GitmodelError, match=re.escape(says)):
        gitmodel.save({"w": [1, 2]}, "models/clf.pkl", name="clf", params={"lr": 0.1}, metrics={"acc": 0.9},
                      repo=work)
    watch.check("gitmodel.save")
    assert tree_state(work) == before, "gitmodel.save wrote before it refused"
    # Commands that do not read declarations go on.
    assert gm_run(["status"], cwd=work).code == 0


def test_save_with_safe_declarations_still_writes_its_files(tmp_path: Path) -> None:
    """The reproduction's counterpart: with sane names, save writes the
    artifact and both sidecars inside the work tree and stages them."""
    import gitmodel

    origin = _declaring_origin(tmp_path, "params", "conf/params.json")
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    saved = gitmodel.save({"w": [1, 2]}, "models/clf.pkl", name="clf", params={"lr": 0.1}, metrics={"acc": 0.9},
                          repo=work)
    assert (saved.params_file, saved.metrics_file) == ("conf/params.json", "metrics.json")
    assert json.loads((work / "conf/params.json").read_text()) == {"lr": 0.1}
    assert json.loads((work / "metrics.json").read_text()) == {"acc": 0.9}
    watch.check("gitmodel.save")


def test_save_replaces_a_committed_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    """`params.json` is a plain path, but the clone's params.json is a
    committed symlink to a file outside: save puts its own file there; the
    file outside is untouched."""
    import gitmodel

    origin = _declaring_origin(tmp_path, "params", "params.json")
    os.symlink("../secret.json", origin / "params.json")
    commit_without_hooks(origin, "params.json leads out")
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    gitmodel.save({"w": 1}, "models/clf.pkl", name="clf", params={"lr": 0.1}, repo=work)
    watch.check("gitmodel.save")
    assert not (work / "params.json").is_symlink()
    assert json.loads((work / "params.json").read_text()) == {"lr": 0.1}


@pytest.mark.parametrize("path", [".gitattributes", "models/.gitignore", ".git/x.pkl", "../x.pkl"])
def test_save_refuses_an_artifact_or_sidecar_in_control_space(repo: Path, tmp_path: Path, path: str) -> None:
    """What the caller names is judged by the same rule before the first
    write: a pickle never lands over .gitattributes, then gets refused by add."""
    import gitmodel

    write(repo, ".gitattributes", "*.bin binary\n")
    before, outside = tree_state(repo), outside_state(tmp_path, "clone")
    with pytest.raises(gitmodel.GitmodelError):
        gitmodel.save({"w": 1}, path, params={"lr": 1})
    assert tree_state(repo) == before
    assert {k: v for k, v in outside_state(tmp_path, "clone").items() if not k.startswith("repo")} == \
        {k: v for k, v in outside.items() if not k.startswith("repo")}


def test_model_add_refuses_what_the_parser_would_refuse(gm, repo: Path) -> None:
    """`model add --metrics .gitignore` would leave a config every later
    command refuses: said when it is typed, nothing written."""
    write(repo, "models/clf.pkl", MODEL)
    gm_add(repo, "models/clf.pkl")
    config = (repo / ".gitmodel/config.toml").read_bytes()
    refused(gm("model", "add", "clf", "models/clf.pkl", "--metrics", ".gitignore"), "one of git's control files")
    refused(gm("model", "add", "clf", "models/clf.pkl", "--params", "../p.json"), "outside the repository")
    assert (repo / ".gitmodel/config.toml").read_bytes() == config


# -- a metrics file that is a committed symlink -------------------------------------------

@pytest.mark.parametrize("target", ["../secret.json", ".git/config", ".gitmodel/config.local.toml"])
def test_a_metrics_file_that_is_a_symlink_out_or_into_control_space_is_not_read(tmp_path: Path,
                                                                              target: str) -> None:
    write(tmp_path, "secret.json", json.dumps({"token": SECRET}))
    origin = make_repo(tmp_path / "origin")
    os.symlink(target, origin / "metrics.json")
    with open(origin / ".gitmodel" / "config.toml", "a") as f:
        f.write('\n[metrics]\nfiles = ["metrics.json"]\n')
    commit_without_hooks(origin, "metrics.json is a symlink")
    work = clone(origin, tmp_path / "clone")
    write(work, ".gitmodel/config.local.toml", f'[remote.x]\nurl = "s3://b?token={SECRET}"\n')
    with open(work / ".git" / "config", "a") as f:
        f.write(f'[credential]\n\thelper = "store {SECRET}"\n')
    watch = Watch(tmp_path, work)
    for args in (("metrics", "show"), ("metrics", "diff", "HEAD"), ("report", "--base", "HEAD")):
        refused(gm_run(list(args), cwd=work), "metrics.json: is a symlink leading outside the repository or into")
        watch.check(f"`gitmodel {' '.join(args)}`")
    # At a revision the symlink is a blob holding its target's name: parsed
    # as that text (it is not JSON), never followed.
    r = gm_run(["metrics", "show", "HEAD", "--json"], cwd=work)
    assert r.code == 0 and SECRET not in r.out + r.err, r
    assert json.loads(r.out)["revisions"][0]["files"]["metrics.json"]["status"] == "error"


# -- snapshots in tag messages ---------------------------------------------------------------

def _snapshot(message: str) -> dict[str, object]:
    return json.loads(message[message.index("\ngitmodel-snapshot:\n") + len("\ngitmodel-snapshot:\n"):])


def _tag_message(root: Path, tag: str) -> str:
    raw = git("cat-file", "tag", tag, cwd=root)
    return raw.split("\n\n", 1)[1]


def _hostile_tag_origin(tmp_path: Path, field: str, hostile: str) -> Path:
    """An origin with clf@v1.0.0 (a real `gitmodel tag`) and a hand-made
    clf@v2.0.0 on a crafted commit whose tree holds the pointer of a
    post-commit hook at `.git/hooks/post-commit.gm` (git never checks out
    such a tree; a tag can still name it), its object pushed to the remote;
    the v2 snapshot names `hostile` as its `field`."""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(lambda *a, cwd=None: gm_run(list(a), cwd=cwd), origin, tmp_path / "store")
    write(origin, "models/clf.pkl", MODEL)
    write(origin, "hook", f"#!/bin/sh\necho pwned > '{tmp_path / 'PWNED'}'\n")
    gm_add(origin, "models/clf.pkl", "hook")
    commit_without_hooks(origin, "v1")
    assert gm_run(["tag", "clf", "v1.0.0", "--path", "models/clf.pkl"], cwd=origin).code == 0
    assert gm_run(["push"], cwd=origin).code == 0
    git("commit", "-q", "-am", "declare clf", cwd=origin)
    # The crafted commit: HEAD's tree plus .git/hooks/post-commit.gm.
    hook_pointer = git("rev-parse", "HEAD:hook.gm", cwd=origin).strip()
    hooks = git("mktree", cwd=origin, input=f"100644 blob {hook_pointer}\tpost-commit.gm\n").strip()
    hooks_dir = git("mktree", cwd=origin, input=f"040000 tree {hooks}\thooks\n").strip()
    entries = git("ls-tree", "HEAD", cwd=origin) + f"040000 tree {hooks_dir}\t.git\n"
    tree = git("mktree", cwd=origin, input=entries).strip()
    commit = git("commit-tree", tree, "-p", "HEAD", "-m", "v2", cwd=origin).strip()
    message = _tag_message(origin, "clf@v1.0.0")
    snap = _snapshot(message)
    snap.update(version="v2.0.0", commit=commit)
    item = {"path": hostile, "kind": "file", "oid": "xxh128:" + "0" * 32, "size": 1}
    if field == "artifact":
        hook = git("show", "HEAD:hook.gm", cwd=origin)
        item.update(oid=next(x.split()[1] for x in hook.splitlines() if x.startswith("oid ")))
        snap["artifact"] = {**item, "size": int(next(x.split()[1] for x in hook.splitlines()
                                                     if x.startswith("size ")))}
    elif field == "data":
        snap["data"] = [item]
    else:
        snap[field] = {"file": hostile, "values": {"acc": 1.0}}
    text = f"Registering artifact clf version v2.0.0\n\ngitmodel-snapshot:\n{json.dumps(snap, indent=1)}\n"
    git("tag", "-a", "-F", "-", "clf@v2.0.0", commit, cwd=origin, input=text)
    return origin


def test_a_snapshot_naming_a_git_hook_is_refused_by_rollback_show_and_the_api(tmp_path: Path) -> None:
    import gitmodel

    origin = _hostile_tag_origin(tmp_path, "artifact", ".git/hooks/post-commit")
    work = clone(origin, tmp_path / "clone")
    assert gm_run(["pull"], cwd=work).code == 0
    watch = Watch(tmp_path, work)
    before = tree_state(work)
    says = "the snapshot in the tag of clf@v2.0.0: artifact: unsafe path '.git/hooks/post-commit'"
    for args in (("rollback", "clf", "--to", "v2.0.0"), ("show", "clf@v2.0.0"), ("versions", "clf")):
        r = gm_run(list(args), cwd=work)
        refused(r, says)
        watch.check(f"`gitmodel {' '.join(args)}`")
        if args[0] == "versions":  # a listing refuses that version by name and lists the others
            assert "v1.0.0" in r.out and "v2.0.0" not in r.out, r
    r = gm_proc("rollback", "clf", "--to", "v2.0.0", cwd=work)  # the console script: the same one line
    refused(r, says)
    with pytest.raises(gitmodel.GitmodelError, match=re.escape(says)):
        gitmodel.rollback("clf", "v2.0.0", repo=work)
    assert tree_state(work) == before
    watch.check("gitmodel.rollback")
    assert not (work / ".git" / "hooks" / "post-commit").exists() and not (tmp_path / "PWNED").exists()
    # get --rev: the version resolves to its commit; the path is the caller's, judged by the same rule.
    out = tmp_path / "got"
    refused(gm_proc("get", str(origin), ".git/hooks/post-commit", "--rev", "clf@v2.0.0", "-o", str(out),
                    cwd=tmp_path), "unsafe path '.git/hooks/post-commit'")
    assert not out.exists()
    r = gm_proc("get", str(origin), "models/clf.pkl", "--rev", "clf@v2.0.0", "-o", str(out), cwd=tmp_path)
    assert r.code == 0, r
    assert out.read_bytes() == MODEL
    os.remove(out)
    watch.check("`gitmodel get`")
    # The safe version beside it still rolls back.
    r = gm_run(["rollback", "clf", "--to", "v1.0.0"], cwd=work)
    assert r.code == 0, r
    assert (work / "models/clf.pkl").read_bytes() == MODEL
    assert git_control_state(work) == watch.git


@pytest.mark.parametrize(("field", "hostile"), [
    ("data", "../../etc/passwd"), ("params", ".git/config"), ("metrics", "/etc/passwd"),
    ("artifact", ".gitmodel/config.local.toml"), ("artifact", "models/.gitattributes"),
])
def test_any_path_a_snapshot_names_is_judged_where_it_is_parsed(tmp_path: Path, field: str, hostile: str) -> None:
    origin = _hostile_tag_origin(tmp_path, field, hostile)
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    for args in (("show", "clf@v2.0.0"), ("rollback", "clf", "--to", "v2.0.0")):
        refused(gm_run(list(args), cwd=work), f"{field}: unsafe path {hostile!r}")
        watch.check(f"`gitmodel {' '.join(args)}`")


def test_a_snapshot_path_through_a_committed_symlink_out_is_refused_where_rollback_writes(tmp_path: Path) -> None:
    """`out/clf.pkl` is a plain path (the parser takes it), but the clone's
    `out` is a committed symlink leading out of it: the file system half of
    the rule (Repo.check_rel) refuses it before rollback writes."""
    origin = _hostile_tag_origin(tmp_path, "artifact", "out/clf.pkl")
    (tmp_path / "outside").mkdir()
    os.symlink("../outside", origin / "out")
    commit_without_hooks(origin, "a symlink out")
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    refused(gm_run(["rollback", "clf", "--to", "v2.0.0"], cwd=work), "leads through a symlink to")
    watch.check("`gitmodel rollback`")
    assert os.listdir(tmp_path / "outside") == []


def test_a_damaged_snapshot_is_still_nothing_recorded(tmp_path: Path) -> None:
    """Damage (not JSON, nested past the parser's depth) is not an attack:
    the version is shown as not recorded, read from the commit."""
    origin = _hostile_tag_origin(tmp_path, "data", "fine.csv")
    commit = git("rev-parse", "clf@v2.0.0^{commit}", cwd=origin).strip()
    for n, body in enumerate(["{not json", "[" * 100_000]):
        tag = f"clf@v3.0.{n}"
        git("tag", "-a", "-F", "-", tag, commit, cwd=origin,
            input=f"Registering artifact clf version v3.0.{n}\n\ngitmodel-snapshot:\n{body}\n")
        r = gm_run(["show", tag], cwd=origin)
        assert r.code == 0 and "not recorded in the tag" in r.out, r


# -- GTO's artifacts.yaml -----------------------------------------------------------------------

def test_a_gto_declaration_naming_a_hook_is_refused(tmp_path: Path) -> None:
    """A repository GTO tagged: no [model.clf], the path comes from the
    commit's artifacts.yaml and the tag message is GTO's plain line."""
    origin = make_repo(tmp_path / "origin")
    write(origin, "models/clf.pkl", MODEL)
    gm_add(origin, "models/clf.pkl")
    write(origin, "artifacts.yaml", "clf:\n  path: .git/hooks/post-commit\n  type: model\n")
    commit_without_hooks(origin, "gto")
    git("tag", "-a", "clf@v1.0.0", "-m", "Registering artifact clf version v1.0.0", cwd=origin)
    work = clone(origin, tmp_path / "clone")
    watch = Watch(tmp_path, work)
    for args in (("rollback", "clf", "--to", "v1.0.0"), ("show", "clf@v1.0.0")):
        refused(gm_run(list(args), cwd=work), "artifacts.yaml: clf.path: unsafe path '.git/hooks/post-commit'")
        watch.check(f"`gitmodel {' '.join(args)}`")


# -- report and plot outputs -----------------------------------------------------------------

def test_plot_names_its_default_output_safely_whatever_the_committed_key(gm, repo: Path, tmp_path: Path) -> None:
    """Without -M, the chart's file name is made of a metric key from the
    committed metrics file: one short name in the current folder, never a
    path (and never a traceback for a name too long for the file system)."""
    key = "../../" + "k" * 300
    write(repo, "metrics.json", json.dumps({key: 1.0}))
    with open(repo / ".gitmodel" / "config.toml", "a") as f:
        f.write('\n[metrics]\nfiles = ["metrics.json"]\n')
    commit_without_hooks(repo, "a long and climbing metric key")
    outside = {k: v for k, v in outside_state(tmp_path, "clone").items() if not k.startswith("repo")}
    before = set(os.listdir(repo))
    r = gm("plot", "--commits")
    assert r.code == 0, r
    (made,) = set(os.listdir(repo)) - before
    assert made.startswith("HEAD-.._.._kkk") and made.endswith(".html") and len(made) <= 130
    assert {k: v for k, v in outside_state(tmp_path, "clone").items() if not k.startswith("repo")} == outside
    r = gm("report", "--base", "HEAD", "-o", "r" * 300 + ".md")
    refused(r, "the file name is too long")
