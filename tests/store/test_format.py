"""The on-disk formats: pointer files and directory manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmodel.errors import PointerError
from gitmodel.store import manifest, pointer
from tests.support.store import objects, oid_of, pointer_fields

OID = "xxh128:" + "0123456789abcdef" * 2


def test_pointer_round_trip_and_fixed_order() -> None:
    p = pointer.Pointer(oid=OID, size=42)
    assert p.dumps() == f"version gitmodel/1\nkind file\noid {OID}\nsize 42\n"
    assert pointer.loads(p.dumps(), "x.gm") == p
    d = pointer.Pointer(oid=OID, size=7, kind="dir", files=3, extra={"zeta": "z", "alpha": "a b"})
    text = d.dumps()
    assert text.splitlines() == ["version gitmodel/1", "kind dir", f"oid {OID}", "size 7", "files 3",
                                 "alpha a b", "zeta z"]
    assert pointer.loads(text, "x.gm") == d


def test_pointer_reads_keys_in_any_order_and_crlf() -> None:
    text = f"size 5\r\nzz keep\r\noid {OID}\r\nversion gitmodel/1\r\n\r\n"
    p = pointer.loads(text, "x.gm")
    assert (p.oid, p.size, p.kind, p.extra) == (OID, 5, "file", {"zz": "keep"})


@pytest.mark.parametrize("text, needle", [
    ("garbage\n", "x.gm:1"),
    ("version gitmodel/1\nkind file\nno_value\n", "x.gm:3"),
    ("version gitmodel/1\nversion gitmodel/1\n", "x.gm:2"),
    (f"oid {OID}\nsize 1\n", "no `version` line"),
    (f"version gitmodel/2\noid {OID}\nsize 1\n", "gitmodel/2"),
    ("version gitmodel/1\nsize 1\n", "no `oid` line"),
    ("version gitmodel/1\noid md5:abc\nsize 1\n", "malformed oid"),
    (f"version gitmodel/1\noid {OID.upper()}\nsize 1\n", "malformed oid"),
    (f"version gitmodel/1\noid {OID}0\nsize 1\n", "malformed oid"),
    (f"version gitmodel/1\noid {OID}\n", "no `size` line"),
    (f"version gitmodel/1\noid {OID}\nsize -1\n", "size"),
    (f"version gitmodel/1\noid {OID}\nsize 99999999999999999999999\n", "implausibly large"),
    (f"version gitmodel/1\nkind blob\noid {OID}\nsize 1\n", "unknown kind"),
    (f"version gitmodel/1\nkind dir\noid {OID}\nsize 1\n", "no `files` line"),
])
def test_pointer_errors_name_the_file(text: str, needle: str) -> None:
    with pytest.raises(PointerError) as e:
        pointer.loads(text, "x.gm")
    msg = str(e.value)
    assert msg.startswith("x.gm") and needle in msg and "\n" not in msg


def test_pointer_read_rejects_binary_and_huge(tmp_path: Path) -> None:
    (tmp_path / "bin.gm").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PointerError, match="not UTF-8"):
        pointer.read(str(tmp_path / "bin.gm"), "bin.gm")
    (tmp_path / "big.gm").write_bytes(b"version gitmodel/1\n" + b"x y\n" * 20000)
    with pytest.raises(PointerError, match="too large"):
        pointer.read(str(tmp_path / "big.gm"), "big.gm")


def test_unknown_keys_survive_a_rewrite(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(b"one")
    assert gm("add", "m.bin").code == 0
    ptr = repo / "m.bin.gm"
    # A newer gitmodel (or a person) added keys, in no particular order.
    lines = ptr.read_text().splitlines()
    ptr.write_text("\n".join(["zeta later", *lines[:2], "alpha-key first one", *lines[2:]]) + "\n")
    (repo / "m.bin").write_bytes(b"two")
    r = gm("add", "m.bin")
    assert r.code == 0 and "added m.bin" in r.out, r
    assert pointer_fields(ptr) == [("version", "gitmodel/1"), ("kind", "file"), ("oid", oid_of(b"two")),
                                   ("size", "3"), ("alpha-key", "first one"), ("zeta", "later")]


def test_manifest_round_trip() -> None:
    entries = [manifest.Entry("b/c.txt", OID, 10, False), manifest.Entry("a.sh", OID, 0, True)]
    data = manifest.dumps(entries)
    assert data.decode() == (f"gitmodel-manifest 1\n{OID}\t0\t755\ta.sh\n{OID}\t10\t644\tb/c.txt\n")
    assert manifest.loads(data, "m") == sorted(entries, key=lambda e: e.path)
    assert manifest.loads(manifest.dumps([]), "m") == []


@pytest.mark.parametrize("path", ["../evil", "a/../../evil", "/etc/passwd", "a//b", "./a", "a/.", "a\\b",
                                  "..", "a/"])
def test_manifest_refuses_paths_that_could_escape(path: str) -> None:
    data = f"gitmodel-manifest 1\n{OID}\t1\t644\t{path}\n".encode()
    with pytest.raises(PointerError, match="manifest"):
        manifest.loads(data, "manifest of d")


@pytest.mark.parametrize("body", [
    "nonsense\n",
    f"{OID}\t1\t600\ta\n",
    f"{OID}\tx\t644\ta\n",
    "md5:00\t1\t644\ta\n",
    f"{OID}\t1\t644\ta\n{OID}\t1\t644\ta\n",
])
def test_manifest_refuses_malformed_lines(body: str) -> None:
    with pytest.raises(PointerError):
        manifest.loads(("gitmodel-manifest 1\n" + body).encode(), "m")
    with pytest.raises(PointerError, match="header"):
        manifest.loads(body.encode(), "m")


def test_directory_pointer_names_its_manifest_object(gm, repo: Path) -> None:
    d = repo / "d"
    d.mkdir()
    (d / "x").write_text("xx")
    (d / "y").write_text("yyy")
    assert gm("add", "d").code == 0
    values = dict(pointer_fields(repo / "d.gm"))
    data = objects(repo)[values["oid"]].read_bytes()
    assert oid_of(data) == values["oid"]
    entries, subtrees = manifest.loads_tree(data, "m")
    assert [(e.path, e.size) for e in entries] == [("x", 2), ("y", 3)] and subtrees == []
    assert int(values["size"]) == 5 and int(values["files"]) == 2
