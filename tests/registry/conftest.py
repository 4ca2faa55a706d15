"""Fixtures of the registry tests: they override the repository-wide `repo`
and `gm` for every test in this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import GM, Result, gm_run


@pytest.fixture
def repo(repo: Path) -> Path:
    """Without git hooks: these tests are about tags, and each hook is one
    more Python process per git command (the hooks have their own tests;
    the --push test puts them back)."""
    assert gm_run(["uninstall-hooks"], cwd=repo).code == 0
    return repo


@pytest.fixture
def gm(gm: GM, monkeypatch: pytest.MonkeyPatch) -> GM:
    """The CLI with a clock that moves 10 s per command: tag dates (whole
    seconds in git) order the events, so the tests do not leave that order
    to how fast they run."""
    now = [1_700_000_000]

    def run(*args: str, cwd: str | Path | None = None) -> Result:
        now[0] += 10
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"{now[0]} +0000")
        return gm(*args, cwd=cwd)
    return run
