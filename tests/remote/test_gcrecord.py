"""The local record of what a remote holds must not outlive a remote gc:
after `gitmodel gc -r` (from any clone) deleted objects, a push that trusted
the record would skip them and leave pointers without objects."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitmodel.remote.layout import GC_MARKER
from gitmodel.remote.spec import from_repo
from gitmodel.repo import Repo
from gitmodel.store import oid as oidmod
from tests.support.cli import gm_run
from tests.support.remote import pushed_model


def test_push_after_a_remote_gc_uploads_what_the_gc_deleted(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    data = os.urandom(4000)
    oid = pushed_model(repo, store, data)
    remote_obj = store / "objects" / oidmod.relpath(oid)
    assert remote_obj.exists()

    # What a remote gc run from another clone leaves behind: the object gone, the marker written.
    remote = from_repo(Repo.discover(str(repo)))
    try:
        remote.delete(oid)
        remote.write_meta(GC_MARKER, json.dumps({"time": 1.0, "deleted": 1}).encode())
    finally:
        remote.close()
    assert not remote_obj.exists()

    r = gm_run(["push"], cwd=repo)
    assert r.code == 0, r
    assert remote_obj.read_bytes() == data

    # With no new gc, the record is trusted again: nothing to send, nothing asked.
    r = gm_run(["push"], cwd=repo)
    assert r.code == 0 and "nothing to push" in r.out, r
