"""Real SSH signing keys and allowed-signers files for the tests of signed
versions and stages (tests/registry/test_signing.py, test_verify_wiring.py):
ed25519 keys made by ssh-keygen, git's own signing settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.git import git

PEOPLE = ("alice", "bob", "mallory")


def make_keys(folder: Path, people: tuple[str, ...] = PEOPLE) -> dict[str, Path]:
    """One ed25519 key without a passphrase per person: name -> private key file."""
    out = {}
    for who in people:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(folder / who)],
                       check=True)
        out[who] = folder / who
    return out


def fp(key: Path) -> str:
    """The key's SHA256 fingerprint as ssh-keygen prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def signers_text(keys: dict[str, Path], *who: str) -> str:
    """An allowed-signers file listing `who` as `NAME@example.com`."""
    lines = [f"{w}@example.com {keys[w].with_suffix('.pub').read_text().split(' ', 2)[0]} "
             f"{keys[w].with_suffix('.pub').read_text().split()[1]} {w}'s laptop" for w in who]
    return "# who may sign\n" + "\n".join(lines) + "\n"


def allow(root: Path, keys: dict[str, Path], *who: str) -> None:
    """Commit an allowed-signers file listing `who` as `NAME@example.com`."""
    (root / ".gitmodel" / "allowed_signers").write_text(signers_text(keys, *who))
    git("add", ".gitmodel/allowed_signers", cwd=root)
    git("commit", "-q", "-m", "allowed signers", cwd=root)


def as_(root: Path, key: Path | str) -> None:
    """Sign as the holder of `key` from now on (git's own settings)."""
    git("config", "gpg.format", "ssh", cwd=root)
    git("config", "user.signingkey", str(key), cwd=root)


def config(root: Path, text: str) -> None:
    """Append `text` to the committed config and commit it."""
    cfg = root / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text() + "\n" + text)
    git("commit", "-q", "-am", "settings", cwd=root)
