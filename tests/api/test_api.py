"""The Python API (issue 7) against real repositories, a real folder remote,
and the end-to-end demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gitmodel
from gitmodel.errors import CorruptObjectError, GitmodelError
from tests.support.git import git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(repo: Path, tmp_path: Path) -> Path:
    """A repository with a folder remote as its default."""
    storage = tmp_path / "storage"
    r = gitmodel_cli("remote", "add", "storage", str(storage), "--default")
    assert r.returncode == 0, r.stderr
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n1,2\n")
    return repo


def gitmodel_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitmodel", *args], cwd=cwd, capture_output=True, text=True)


def save_version(model: dict[str, int], version: str, accuracy: float) -> gitmodel.Saved:
    saved = gitmodel.save(model, "models/clf.pkl", name="clf", params={"n": model["n"]},
                          metrics={"accuracy": accuracy}, data=["data/train.csv"])
    git("commit", "-qm", f"train {version}")
    gitmodel.tag("clf", version)
    return saved


def test_save_tracks_declares_and_writes_lineage(project: Path) -> None:
    saved = gitmodel.save({"n": 1}, "models/clf.pkl", name="clf", params={"n": 1}, metrics={"accuracy": 0.5},
                          data=["data/train.csv"])
    assert saved.path == "models/clf.pkl" and saved.oid.startswith("xxh128:")
    assert (project / "models" / "clf.pkl.gm").read_text().splitlines()[2] == f"oid {saved.oid}"
    assert (project / "data" / "train.csv.gm").is_file()
    assert '"accuracy": 0.5' in (project / "models" / "clf.metrics.json").read_text()
    config = (project / ".gitmodel" / "config.toml").read_text()
    assert "[model.clf]" in config and 'path = "models/clf.pkl"' in config
    staged = git("diff", "--cached", "--name-only").split()
    assert {"models/clf.pkl.gm", "data/train.csv.gm", "models/clf.params.json", "models/clf.metrics.json",
            ".gitmodel/config.toml"} <= set(staged)


def test_load_by_version_stage_and_latest_without_touching_workspace(project: Path) -> None:
    save_version({"n": 1}, "v1.0.0", 0.5)
    save_version({"n": 2}, "v1.1.0", 0.7)
    before = (project / "models" / "clf.pkl").read_bytes()
    assert gitmodel.load("clf@v1.0.0") == {"n": 1}
    assert gitmodel.load("clf@latest") == {"n": 2}
    assert gitmodel.load("models/clf.pkl", rev="clf@v1.0.0") == {"n": 1}
    gitmodel.promote("clf", "v1.1.0", "prod")
    assert gitmodel.load("clf#prod") == {"n": 2}
    gitmodel.promote("clf", "v1.0.0", "prod")  # re-promotion: the deploy-side rollback
    assert gitmodel.load("clf#prod") == {"n": 1}
    assert (project / "models" / "clf.pkl").read_bytes() == before
    assert [v["version"] for v in gitmodel.versions("clf")] == ["v1.1.0", "v1.0.0"]


def test_load_fetches_a_version_missing_from_workspace_and_cache(project: Path) -> None:
    save_version({"n": 1}, "v1.0.0", 0.5)
    old = gitmodel.save({"n": 2}, "models/clf.pkl", name="clf")
    git("commit", "-qm", "v2")
    assert gitmodel_cli("push", "--all-tags", cwd=project).returncode == 0
    assert gitmodel_cli("push", cwd=project).returncode == 0
    shutil.rmtree(project / ".git" / "gitmodel" / "objects")
    os.unlink(project / ".git" / "gitmodel" / "state.db")
    assert gitmodel.load("clf@v1.0.0") == {"n": 1}
    assert gitmodel.load("models/clf.pkl") == {"n": 2}
    assert old.oid


def test_load_refuses_to_unpickle_a_corrupt_object(project: Path) -> None:
    saved = save_version({"n": 1}, "v1.0.0", 0.5)
    obj = project / ".git" / "gitmodel" / "objects" / "xxh128" / saved.oid[7:9] / saved.oid[9:]
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[-1] ^= 0xFF
    obj.write_bytes(bytes(data))
    with pytest.raises(CorruptObjectError):
        gitmodel.load("clf@v1.0.0")


def test_open_a_data_file_at_an_old_version(project: Path) -> None:
    save_version({"n": 1}, "v1.0.0", 0.5)
    (project / "data" / "train.csv").write_text("x,y\n3,4\n5,6\n")
    save_version({"n": 2}, "v1.1.0", 0.6)
    with gitmodel.open("data/train.csv", rev="clf@v1.0.0", mode="r") as f:
        assert f.read() == "x,y\n1,2\n"
    with gitmodel.open("data/train.csv") as f:
        assert f.read() == b"x,y\n3,4\n5,6\n"


def test_open_a_file_inside_a_tracked_folder(project: Path) -> None:
    (project / "images").mkdir()
    (project / "images" / "a.bin").write_bytes(b"A" * 10)
    (project / "images" / "b.bin").write_bytes(b"B" * 10)
    gitmodel.add(["images"])
    git("commit", "-qm", "images")
    (project / "images" / "a.bin").write_bytes(b"changed")
    with gitmodel.open("images/a.bin", rev="HEAD") as f:
        assert f.read() == b"A" * 10


def test_api_from_a_subfolder_and_with_repo_argument(project: Path, tmp_path: Path) -> None:
    save_version({"n": 1}, "v1.0.0", 0.5)
    (project / "sub").mkdir()
    os.chdir(project / "sub")
    assert gitmodel.load("clf@v1.0.0") == {"n": 1}
    os.chdir(tmp_path)
    assert gitmodel.load("clf@v1.0.0", repo=project) == {"n": 1}
    assert gitmodel.load("models/clf.pkl", repo=project) == {"n": 1}


def test_load_from_a_git_url(project: Path, tmp_path: Path) -> None:
    save_version({"n": 1}, "v1.0.0", 0.5)
    assert gitmodel_cli("push", cwd=project).returncode == 0
    bare = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(project), str(bare))
    os.chdir(tmp_path)
    assert gitmodel.load("clf@v1.0.0", repo=f"file://{bare}") == {"n": 1}


def test_bad_input_is_a_gitmodel_error(project: Path) -> None:
    with pytest.raises(GitmodelError):
        gitmodel.load("nosuch@v1.0.0")
    with pytest.raises(GitmodelError):
        gitmodel.load("models/nothing.pkl")
    with pytest.raises(GitmodelError):
        gitmodel.open("data/train.csv", mode="w")


def test_the_demo_runs_end_to_end() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "created tag clf@v1.0.0" in out and "created tag clf@v1.1.0" in out
    assert "loaded RandomForestClassifier with 200 trees" in out
    assert "clf#prod#2" in out  # the stage history
    assert "demo finished" in out
