"""gc: what it keeps (everything any ref, reflog, stash, index, worktree or
workspace pointer can reach, across all history), what it deletes, and that
it refuses rather than guesses."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error
from tests.support.files import write
from tests.support.git import commit_without_hooks, git
from tests.support.state import assert_unchanged, repo_state
from tests.support.store import (
    age,
    age_cache,
    bad_objects,
    cache_root,
    object_path,
    objects,
    oid_of,
    pack_entries,
    packs,
    pointer_oid,
)


def track(gm, root: Path, rel: str, data: bytes, *extra: str) -> str:
    write(root, rel, data)
    r = gm("add", rel, *extra, cwd=root)
    assert r.code == 0, r
    return oid_of(data)


def gc(gm, *args: str):
    r = gm("gc", "--keep-days", "0", *args)
    assert r.code == 0, r
    return r


def test_deletes_only_unreachable_and_old(gm, repo: Path) -> None:
    keep = track(gm, repo, "model.bin", b"v1 " * 100)
    commit_without_hooks(repo, "v1")
    old = track(gm, repo, "model.bin", b"v2-uncommitted")  # replaced before any commit...
    new = track(gm, repo, "model.bin", b"v3 " * 100)  # ...so v2 is referenced by nothing
    commit_without_hooks(repo, "v3")
    age_cache(repo, 20)
    r = gm("gc")
    assert r.code == 0, r
    assert "freed" in r.out and "1 object" in r.out, r
    left = objects(repo)
    assert keep in left and new in left and old not in left


def test_grace_period_keeps_young_objects(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"first")
    young = oid_of(b"first")
    track(gm, repo, "a.bin", b"second")
    commit_without_hooks(repo, "c")
    r = gm("gc")  # default: 14 days; everything was written just now
    assert r.code == 0, r
    assert young in objects(repo)
    assert "1 younger than 14 days" in r.out, r
    age([object_path(repo, young)], 13)
    assert gm("gc").code == 0 and young in objects(repo)
    age([object_path(repo, young)], 15)
    assert gm("gc").code == 0 and young not in objects(repo)


def test_keep_days_option(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"first")
    track(gm, repo, "a.bin", b"second")
    age([object_path(repo, oid_of(b"first"))], 3)
    assert gm("gc", "--keep-days", "5").code == 0 and oid_of(b"first") in objects(repo)
    assert gm("gc", "--keep-days", "2").code == 0 and oid_of(b"first") not in objects(repo)


def test_dry_run_changes_nothing_and_lists(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"first")
    track(gm, repo, "a.bin", b"second")
    commit_without_hooks(repo, "c")
    age_cache(repo, 30)
    before = repo_state(repo)
    r = gm("gc", "--dry-run")
    assert r.code == 0, r
    assert oid_of(b"first") in r.out and "would free" in r.out, r
    assert oid_of(b"second") not in r.out
    assert_unchanged(repo, before)
    j = gm("gc", "--dry-run", "--json")
    data = json.loads(j.out)
    assert [d["oid"] for d in data["deleted"]] == [oid_of(b"first")] and data["dry_run"] is True
    assert_unchanged(repo, before)


def test_bad_keep_days_is_one_line(gm, repo: Path) -> None:
    assert_one_line_error(gm("gc", "--keep-days", "-1"), "--keep-days")
    assert_one_line_error(gm("gc", "--keep-days", "nan"), "--keep-days")


# -- every source of reachability ---------------------------------------------------

def test_history_of_every_branch_and_tag(gm, repo: Path) -> None:
    a1 = track(gm, repo, "a.bin", b"a1")
    commit_without_hooks(repo, "a1")
    a2 = track(gm, repo, "a.bin", b"a2")
    commit_without_hooks(repo, "a2")
    git("tag", "-a", "t1", "-m", "tag", cwd=repo)  # annotated tag on a2
    a3 = track(gm, repo, "a.bin", b"a3")
    commit_without_hooks(repo, "a3")
    git("switch", "-q", "-c", "side", cwd=repo)
    s1 = track(gm, repo, "s.bin", b"side only")
    commit_without_hooks(repo, "side")
    git("switch", "-q", "main", cwd=repo)
    git("tag", "light", "HEAD~2", cwd=repo)
    age_cache(repo)
    gc(gm)
    assert {a1, a2, a3, s1} <= set(objects(repo))


def test_remote_tracking_refs(gm, repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(bare))
    git("remote", "add", "origin", str(bare), cwd=repo)
    commit_without_hooks(repo, "base")
    git("switch", "-q", "-c", "feature", cwd=repo)
    r1 = track(gm, repo, "r.bin", b"only on origin/feature")
    commit_without_hooks(repo, "feature")
    git("push", "-q", "origin", "feature", cwd=repo, env={"GITMODEL_SKIP_PUSH": "1"})
    git("switch", "-q", "main", cwd=repo)
    git("branch", "-q", "-D", "feature", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    age_cache(repo)
    gc(gm)
    assert r1 in objects(repo)
    # Without the remote-tracking ref nothing reaches it any more.
    git("update-ref", "-d", "refs/remotes/origin/feature", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    gc(gm)
    assert r1 not in objects(repo)


def test_reflog_keeps_reset_and_amended_commits(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"base")
    commit_without_hooks(repo, "base")
    gone = track(gm, repo, "a.bin", b"reset away")
    commit_without_hooks(repo, "to be reset")
    git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    age_cache(repo)
    gc(gm)
    assert gone in objects(repo), "a commit still in the reflog was treated as garbage"
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    gc(gm)
    assert gone not in objects(repo)


def test_stash_and_its_reflog(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"base")
    commit_without_hooks(repo, "base")
    first = track(gm, repo, "a.bin", b"stashed first")
    git("stash", "-q", cwd=repo)
    assert gm("checkout", "--force").code == 0
    second = track(gm, repo, "a.bin", b"stashed second")
    git("stash", "-q", cwd=repo)  # `first` is now stash@{1}: only the stash reflog names it
    assert gm("checkout", "--force").code == 0
    age_cache(repo)
    gc(gm)
    assert {first, second} <= set(objects(repo))


def test_index_only_and_every_conflict_stage(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"base")
    commit_without_hooks(repo, "base")
    staged = track(gm, repo, "a.bin", b"staged, then changed in the workspace")
    track(gm, repo, "a.bin", b"workspace", "--no-stage")
    age_cache(repo)
    gc(gm)
    assert staged in objects(repo) and oid_of(b"workspace") in objects(repo)


def test_conflicted_index_keeps_both_sides(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"base")
    commit_without_hooks(repo, "base")
    git("switch", "-q", "-c", "other", cwd=repo)
    theirs = track(gm, repo, "a.bin", b"theirs")
    commit_without_hooks(repo, "theirs")
    git("switch", "-q", "main", cwd=repo)
    assert gm("checkout").code == 0
    ours = track(gm, repo, "a.bin", b"ours")
    commit_without_hooks(repo, "ours")
    git("merge", "-q", "other", cwd=repo, check=False)  # conflict in a.bin.gm
    git("branch", "-D", "other", cwd=repo, check=False)
    age_cache(repo)
    gc(gm)
    assert {ours, theirs} <= set(objects(repo))


def test_unstaged_workspace_pointer(gm, repo: Path) -> None:
    oid = track(gm, repo, "new.bin", b"never staged", "--no-stage")
    age_cache(repo)
    gc(gm)
    assert oid in objects(repo)


def test_linked_worktree_head_index_and_workspace(gm, repo: Path, tmp_path: Path) -> None:
    track(gm, repo, "a.bin", b"base")
    commit_without_hooks(repo, "base")
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", "--detach", str(wt), cwd=repo)
    committed = track(gm, wt, "w.bin", b"committed on a detached worktree HEAD")
    commit_without_hooks(wt, "wt")
    staged = track(gm, wt, "s.bin", b"staged in the worktree's index")
    loose = track(gm, wt, "l.bin", b"only a workspace pointer in the worktree", "--no-stage")
    age_cache(repo)
    gc(gm)  # run from the main worktree
    assert {committed, staged, loose} <= set(objects(repo))
    r = gm("gc", "--keep-days", "0", cwd=wt)  # and from the linked one: same cache
    assert r.code == 0, r
    assert {committed, staged, loose} <= set(objects(repo))


def test_version_tag_snapshot_oids_are_kept(gm, repo: Path) -> None:
    """A model version's tag message names its artifact's (and data's) oids:
    those count even where no pointer names them any more."""
    write(repo, "data/x.txt", b"tagged data")
    assert gm("add", "data").code == 0
    moid = pointer_oid(repo / "data.gm")
    only_in_tag = track(gm, repo, "m.bin", b"named only by the tag")
    os.unlink(repo / "m.bin.gm")
    os.unlink(repo / "data.gm")
    commit_without_hooks(repo, "nothing tracked")
    git("tag", "-a", "clf@v1.0.0", "-m", f"Registering artifact clf version v1.0.0\n\n"
        f'gitmodel-snapshot:\n{{"artifact": {{"oid": "{only_in_tag}"}}, "data": ["{moid}"]}}', cwd=repo)
    age_cache(repo)
    gc(gm)
    have = set(objects(repo))
    assert {only_in_tag, moid, oid_of(b"tagged data")} <= have



def test_oids_in_any_annotated_tag_are_kept_nested_and_foreign_too(gm, repo: Path) -> None:
    """gc reads tag messages through the registry's reader, which is wider
    for gc than for versions: a tag outside the grammar, and a tag only
    reached through another tag (a tag of a tag), keep what they name."""
    foreign = track(gm, repo, "f.bin", b"named by a foreign tag")
    nested = track(gm, repo, "n.bin", b"named by a nested tag")
    os.unlink(repo / "f.bin.gm")
    os.unlink(repo / "n.bin.gm")
    commit_without_hooks(repo, "nothing tracked")
    git("tag", "-a", "backup-1", "-m", f"keeps {foreign}", cwd=repo)
    git("tag", "-a", "clf@v1.0.0", "-m", f"gitmodel-snapshot:\n{{\"artifact\": {{\"oid\": \"{nested}\"}}}}", cwd=repo)
    git("-c", "advice.nestedTag=false", "tag", "-a", "outer", "-m", "a tag of a tag", "clf@v1.0.0", cwd=repo)
    git("tag", "-d", "clf@v1.0.0", cwd=repo)  # the inner tag is now reached only through `outer`
    age_cache(repo)
    gc(gm)
    assert {foreign, nested} <= set(objects(repo))

def test_shallow_clone_refuses(gm, repo: Path, tmp_path: Path) -> None:
    track(gm, repo, "a.bin", b"1")
    commit_without_hooks(repo, "1")
    track(gm, repo, "a.bin", b"2")
    commit_without_hooks(repo, "2")
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    assert gm("init", cwd=shallow).code == 0
    assert_one_line_error(gm("gc", cwd=shallow), "shallow", "git fetch --unshallow")


def test_directory_manifests_are_expanded(gm, repo: Path) -> None:
    write(repo, "data/a.txt", b"a1")
    write(repo, "data/sub/b.txt", b"b1")
    assert gm("add", "data").code == 0
    commit_without_hooks(repo, "d1")
    write(repo, "data/a.txt", b"a2")
    assert gm("add", "data").code == 0
    commit_without_hooks(repo, "d2")
    age_cache(repo)
    gc(gm)
    have = set(objects(repo))
    assert {oid_of(b"a1"), oid_of(b"b1"), oid_of(b"a2")} <= have
    pointers = [(repo / "data.gm").read_text()]
    assert all(line.split()[1] in have for p in pointers for line in p.splitlines() if line.startswith("oid"))


def test_missing_manifest_refuses_and_deletes_nothing(gm, repo: Path) -> None:
    write(repo, "data/a.txt", b"a1")
    assert gm("add", "data").code == 0
    commit_without_hooks(repo, "d1")
    track(gm, repo, "x.bin", b"x1")
    track(gm, repo, "x.bin", b"x2")  # x1: unreachable garbage
    moid = pointer_oid(repo / "data.gm")
    mpath = object_path(repo, moid)
    os.chmod(mpath.parent, 0o755)
    mpath.unlink()
    age_cache(repo)
    before = repo_state(repo)
    line = assert_one_line_error(gm("gc", "--keep-days", "0"), "nothing deleted", moid)
    assert "fetch" in line
    assert_unchanged(repo, before)


def test_corrupt_manifest_refuses(gm, repo: Path) -> None:
    write(repo, "data/a.txt", b"a1")
    assert gm("add", "data").code == 0
    commit_without_hooks(repo, "d1")
    moid = pointer_oid(repo / "data.gm")
    mpath = object_path(repo, moid)
    os.chmod(mpath, 0o644)
    mpath.write_bytes(b"gitmodel-manifest 1\n")  # lists nothing now, but did list a.txt
    age_cache(repo)
    before = repo_state(repo)
    assert_one_line_error(gm("gc", "--keep-days", "0"), "nothing deleted", "corrupt")
    assert_unchanged(repo, before)


def test_garbled_pointer_in_history_keeps_what_it_names(gm, repo: Path) -> None:
    oid = track(gm, repo, "a.bin", b"named by a garbled pointer")
    text = (repo / "a.bin.gm").read_text()
    (repo / "a.bin.gm").write_text(text.replace("size ", "size -") + "garbage line without value\n")
    commit_without_hooks(repo, "garbled")
    track(gm, repo, "b.bin", b"x")
    track(gm, repo, "b.bin", b"y")
    age_cache(repo)
    (repo / "a.bin.gm").unlink()
    commit_without_hooks(repo, "gone from the workspace, still in history")
    r = gc(gm)
    assert oid in objects(repo)
    assert oid_of(b"x") not in objects(repo)
    assert "unreadable pointer" in r.err, r


def test_newer_pointer_format_refuses(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"a")
    text = (repo / "a.bin.gm").read_text().replace("gitmodel/1", "gitmodel/2")
    (repo / "a.bin.gm").write_text(text)
    commit_without_hooks(repo, "from the future")
    age_cache(repo)
    before = repo_state(repo)
    assert_one_line_error(gm("gc", "--keep-days", "0"), "gitmodel/2", "upgrade gitmodel")
    assert_unchanged(repo, before)


def test_pointer_bytes_also_stored_under_another_name(gm, repo: Path) -> None:
    """git lists each blob once, under the first path it met: a pointer whose
    bytes were also committed as `notes.txt` must still count."""
    oid = track(gm, repo, "a.bin", b"content")
    (repo / "a-copy.txt").write_bytes((repo / "a.bin.gm").read_bytes())
    commit_without_hooks(repo, "both")
    (repo / "a.bin.gm").unlink()
    (repo / "a.bin").unlink()
    commit_without_hooks(repo, "pointer gone, copy stays")
    git("rm", "-q", "a-copy.txt", cwd=repo)
    commit_without_hooks(repo, "copy gone")
    age_cache(repo)
    gc(gm)
    assert oid in objects(repo)


def test_symlinked_workspace_files_keep_their_objects(gm, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_LINK", "symlink")
    oid = track(gm, repo, "a.bin", b"linked content")
    assert os.path.islink(repo / "a.bin")
    # The pointer moves on (say, a `git checkout` without hooks); the
    # workspace file is still a link to the old object.
    other = oid_of(b"other")
    text = (repo / "a.bin.gm").read_text().replace(oid, other)
    (repo / "a.bin.gm").write_text(text)
    git("add", "a.bin.gm", cwd=repo)  # nothing but the symlink names the old object now
    age_cache(repo)
    gc(gm)
    assert oid in objects(repo)
    assert (repo / "a.bin").read_bytes() == b"linked content"


# -- temp files, the stat cache, locking --------------------------------------------

def test_stale_temp_files_are_removed_young_ones_kept(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"a")
    write(repo, "data/x.txt", b"x")
    assert gm("add", "data").code == 0
    cache = cache_root(repo)
    old = [cache / "tmp" / ".gm-tmp-1-old", cache / "objects" / "xxh128" / "ab" / ".gm-tmp-2-old",
           repo / ".gm-tmp-3-old", repo / "data" / ".gm-tmp-4-old"]
    young = [cache / "tmp" / ".gm-tmp-5-new", repo / "data" / ".gm-tmp-6-new"]
    for p in old + young:
        p.write_bytes(b"leftover")
    age(old, 20)
    foreign = cache / "tmp" / "not-ours"
    foreign.write_bytes(b"x")
    age([foreign], 20)
    r = gm("gc")
    assert r.code == 0, r
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in young) and foreign.exists()
    assert "4 stale temp files" in r.out, r


def test_deleting_clears_completeness_marks(gm, repo: Path) -> None:
    from gitmodel.repo import Repo

    write(repo, "data/x.txt", b"x")
    assert gm("add", "data").code == 0
    moid = pointer_oid(repo / "data.gm")
    track(gm, repo, "b.bin", b"1")
    track(gm, repo, "b.bin", b"2")
    sc = Repo.discover(str(repo)).statcache
    assert sc.is_complete(moid)
    age_cache(repo)
    gc(gm)
    assert not Repo.discover(str(repo)).statcache.is_complete(moid)
    assert gm("status").code == 0


def test_saved_aside_content_gets_a_fresh_grace_period(gm, repo: Path) -> None:
    """checkout --force keeps a modified file's content in the cache; when
    that content was already there, old and unreferenced, it must count as
    new again, or the next gc would delete what was just saved."""
    track(gm, repo, "a.bin", b"old version")
    track(gm, repo, "a.bin", b"current")
    commit_without_hooks(repo, "c")
    age_cache(repo, 30)
    (repo / "a.bin").write_bytes(b"old version")  # the user goes back to the old bytes by hand
    r = gm("checkout", "--force")
    assert r.code == 0, r
    assert oid_of(b"old version") in r.out
    assert gm("gc").code == 0
    assert oid_of(b"old version") in objects(repo)


def test_gc_waits_for_the_repository_lock(gm, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitmodel.repo import Repo

    monkeypatch.setenv("GITMODEL_LOCK_TIMEOUT", "0.2")
    with Repo.discover(str(repo)).lock:
        r = gm("gc")
    assert_one_line_error(r, "locked")


def test_empty_repository(gm, repo: Path) -> None:
    r = gm("gc", "--keep-days", "0")
    assert r.code == 0, r
    assert "freed 0 B" in r.out


def test_json_output(gm, repo: Path) -> None:
    track(gm, repo, "a.bin", b"1")
    track(gm, repo, "a.bin", b"2")
    age_cache(repo)
    r = gm("gc", "--json", "--keep-days", "1")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert data["deleted"] == [{"oid": oid_of(b"1"), "size": 1}] and data["kept"] == 1


# -- packs -------------------------------------------------------------------------------

def folder(root: Path, name: str, n: int = 20, size: int = 300) -> dict[str, bytes]:
    files = {f"{name}/f{i:02}.bin": f"{name} {i} ".encode() * (size // 8) for i in range(n)}
    for rel, data in files.items():
        write(root, rel, data)
    return files


def pack_ids(root: Path) -> set[str]:
    return set(packs(cache_root(root)))


def pack_oids(root: Path) -> dict[str, set[str]]:
    """{pack id: its objects}; every pack must have its index."""
    out = {}
    for packid, (_, idx) in packs(cache_root(root)).items():
        assert idx is not None, f"pack {packid} has no index"
        out[packid] = {o for o, _, _ in pack_entries(idx)}
    return out


def test_a_dead_pack_is_deleted_whole(gm, repo: Path) -> None:
    keep = track(gm, repo, "model.bin", b"kept")
    dead = folder(repo, "scratch")
    assert gm("add", "scratch").code == 0
    (dead_id,) = pack_ids(repo)
    assert gm("remove", "scratch").code == 0
    shutil.rmtree(repo / "scratch")
    commit_without_hooks(repo, "only the model")
    age_cache(repo, 30)
    before = repo_state(repo)
    r = gm("gc", "--dry-run", "--keep-days", "1")
    assert r.code == 0, r
    assert_unchanged(repo, before)
    assert "would free" in r.out and "21 objects" in r.out, r  # its 20 files and the manifest
    r = gc(gm, "--json")
    data = json.loads(r.out)
    assert data["packs_deleted"] == [dead_id] and len(data["deleted"]) >= 20
    assert not list((cache_root(repo) / "packs").glob("pack-*")), "index and pack are both gone"
    assert keep in objects(repo) and not set(objects(repo)) & {oid_of(d) for d in dead.values()}


def test_a_mostly_dead_pack_is_rewritten_with_its_live_objects(gm, repo: Path) -> None:
    files = folder(repo, "mix")
    assert gm("add", "mix").code == 0
    (old_id,) = pack_ids(repo)
    live = dict(list(files.items())[:3])
    for rel in list(files)[3:]:
        (repo / rel).unlink()
    assert gm("add", "mix").code == 0
    commit_without_hooks(repo, "three files")
    age_cache(repo, 30)
    r = gc(gm, "--json")
    data = json.loads(r.out)
    ((old, new),) = [(p["old"], p["new"]) for p in data["packs_rewritten"]]
    assert old == old_id and new and new != old_id
    assert pack_oids(repo) == {new: {oid_of(d) for d in live.values()}}
    assert {d["oid"] for d in data["deleted"]} >= {oid_of(d) for rel, d in files.items() if rel not in live}
    assert not bad_objects(cache_root(repo))
    # The rewritten pack serves a checkout.
    shutil.rmtree(repo / "mix")
    assert gm("checkout").code == 0
    assert {rel: (repo / rel).read_bytes() for rel in live} == live
    assert gm("fsck").code == 0


def test_a_mostly_live_pack_is_kept_whole(gm, repo: Path) -> None:
    files = folder(repo, "d")
    assert gm("add", "d").code == 0
    (packid,) = pack_ids(repo)
    for rel in list(files)[:5]:  # a quarter of its bytes become garbage: not worth a copy
        (repo / rel).unlink()
    assert gm("add", "d").code == 0
    commit_without_hooks(repo, "15 files")
    age_cache(repo, 30)
    before = pack_oids(repo)
    data = json.loads(gc(gm, "--json").out)
    assert pack_oids(repo) == before and data["kept_in_packs"] == 5
    assert data["packs_deleted"] == [] and data["packs_rewritten"] == []
    assert "5 unreachable in mostly live packs" in gc(gm).out


def test_a_young_dead_pack_is_kept_by_its_mtime(gm, repo: Path) -> None:
    folder(repo, "scratch")
    assert gm("add", "scratch").code == 0
    (packid,) = pack_ids(repo)
    assert gm("remove", "scratch").code == 0
    shutil.rmtree(repo / "scratch")
    pack = cache_root(repo) / "packs" / f"pack-{packid}.pack"
    age([pack], 3)
    assert gm("gc", "--keep-days", "5").code == 0 and pack_ids(repo) == {packid}
    age([pack], 6)  # the index's own mtime does not matter
    assert gm("gc", "--keep-days", "5").code == 0 and pack_ids(repo) == set()


def test_leftover_pack_without_index_and_pack_temps_are_removed(gm, repo: Path) -> None:
    folder(repo, "d")
    assert gm("add", "d").code == 0
    commit_without_hooks(repo, "d")
    packs_dir = cache_root(repo) / "packs"
    orphan = packs_dir / ("pack-" + "ab" * 16 + ".pack")
    orphan.write_bytes(b"a pack whose index was never written")
    tmp = packs_dir / ".gm-tmp-99-pack"
    tmp.write_bytes(b"half a pack")
    assert gm("gc").code == 0
    assert orphan.exists() and tmp.exists(), "young leftovers must stay (a writer may be at work)"
    age([orphan, tmp], 30)
    r = gm("gc", "--json")
    assert {t["path"] for t in json.loads(r.out)["temps"]} == {str(orphan), str(tmp)}
    assert not orphan.exists() and not tmp.exists()
    assert len(pack_ids(repo)) == 1 and gm("fsck").code == 0


def test_loose_copies_of_packed_objects_go_unless_a_symlink_needs_them(gm, repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    files = folder(repo, "d")
    assert gm("add", "d").code == 0
    (packid,) = pack_ids(repo)
    a, b = files["d/f00.bin"], files["d/f01.bin"]
    track(gm, repo, "copy.bin", a)  # the same bytes, added alone: a loose copy
    monkeypatch.setenv("GITMODEL_LINK", "symlink")
    track(gm, repo, "linked.bin", b)  # a loose copy the workspace symlink points at
    assert os.path.islink(repo / "linked.bin")
    commit_without_hooks(repo, "all")
    loose = objects(repo, packed=False)
    assert oid_of(a) in loose and oid_of(b) in loose
    age_cache(repo, 30)
    data = json.loads(gc(gm, "--json").out)
    assert [d["oid"] for d in data["duplicates"]] == [oid_of(a)] and data["deleted"] == []
    loose = objects(repo, packed=False)
    assert oid_of(a) not in loose and oid_of(b) in loose
    assert (repo / "linked.bin").read_bytes() == b and pack_ids(repo) == {packid}
    assert gm("fsck").code == 0
    (repo / "copy.bin").unlink()
    assert gm("checkout").code == 0 and (repo / "copy.bin").read_bytes() == a
