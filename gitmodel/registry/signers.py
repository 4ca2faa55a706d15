"""Who may sign what: the committed allowed-signers file, the signing
settings, and what a tag's signature claims.

`.gitmodel/allowed_signers` is git's SSH allowed-signers format (the file
`gpg.ssh.allowedSignersFile` names; `man ssh-keygen`, ALLOWED SIGNERS):

    alice@example.com ssh-ed25519 AAAAC3Nz... alice's laptop
    bob@example.com,bob namespaces="git" ssh-ed25519 AAAAC3Nz...

It comes with a clone, so it is parsed strictly and bounded here (`parse`):
principals are plain names (no patterns: a stage's `signers` names them
exactly), the options are those ssh-keygen knows for signers except
`cert-authority` (a CA signs certificates, not tags), and every key decodes
to its own type.  What git is given is `render` of what was parsed, never
the file's bytes.

The settings live in the committed config:

    [registry]
    sign = true                       # tag, promote, deprecate sign (`--no-sign` overrides)
    signers = ["alice@example.com"]   # who may sign version tags (default: anyone in the file)

    [registry.stage.prod]
    signers = ["alice@example.com", "bob@example.com"]  # who may assign or unassign prod
    require_signature = true          # prod's tags are always signed; loading prod verifies

`claim` reads a tag message's signature block without checking it (which
key it names): cheap enough for listings; `gitmodel.registry.signing`
checks signatures with git itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from gitmodel.errors import ConfigError, GitmodelError
from gitmodel.platform import control
from gitmodel.registry.grammar import check_name
from gitmodel.repo import Repo

ALLOWED_SIGNERS = ".gitmodel/allowed_signers"

# Bounds on a file anyone can commit: far above any team's list.
MAX_BYTES = 256 << 10
MAX_ENTRIES = 1000
MAX_LINE = 16 << 10
MAX_PRINCIPAL = 256

_PRINCIPAL = re.compile(r"[A-Za-z0-9._@+-]+")
_KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
# ssh-keygen's options for an allowed signer; values are quoted strings or timestamps.
_OPTION = re.compile(r'(?:namespaces="[A-Za-z0-9.,*@_-]{1,200}"|valid-(?:after|before)="?[0-9TZ]{8,15}"?)')

# Where git puts a tag's signature: the last line that starts one, to the end.
_BEGIN = {
    "-----BEGIN SSH SIGNATURE-----": "ssh",
    "-----BEGIN PGP SIGNATURE-----": "openpgp",
    "-----BEGIN PGP MESSAGE-----": "openpgp",
    "-----BEGIN SIGNED MESSAGE-----": "x509",
}
MAX_SIGNATURE = 64 << 10


@dataclass(frozen=True)
class Signer:
    """One line of the allowed-signers file."""

    principals: tuple[str, ...]
    options: str  # as written (validated), or ""
    key_type: str
    key: str  # base64 of the public key blob
    fingerprint: str  # SHA256:..., as ssh-keygen and git print it

    def render(self) -> str:
        return " ".join(p for p in (",".join(self.principals), self.options, self.key_type, self.key) if p)


@dataclass(frozen=True)
class AllowedSigners:
    signers: tuple[Signer, ...]
    source: str  # what messages call the file

    def principals_of(self, fingerprint: str) -> tuple[str, ...]:
        """Every principal a key is listed for, in the file's order."""
        out: list[str] = []
        for s in self.signers:
            if s.fingerprint == fingerprint:
                out += [p for p in s.principals if p not in out]
        return tuple(out)

    @property
    def principals(self) -> set[str]:
        return {p for s in self.signers for p in s.principals}

    def render(self) -> bytes:
        """The file git is given: what was parsed, one signer a line."""
        return "".join(s.render() + "\n" for s in self.signers).encode("ascii")


def fingerprint(blob: bytes) -> str:
    """ssh-keygen's SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _ssh_string(data: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(data):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", data[at:at + 4])
    if at + 4 + n > len(data):
        raise ValueError("truncated")
    return data[at + 4:at + 4 + n], at + 4 + n


def _split_options(line: str) -> list[str]:
    """Whitespace-separated fields, a quoted string kept whole (options)."""
    fields: list[str] = []
    cur, quoted = "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch in " \t" and not quoted:
            if cur:
                fields.append(cur)
            cur = ""
            continue
        cur += ch
    if quoted:
        raise ValueError("an unterminated quote")
    if cur:
        fields.append(cur)
    return fields


def _split_commas(options: str) -> list[str]:
    """ssh-keygen's option list: commas separate options, except inside quotes."""
    out, cur, quoted = [], "", False
    for ch in options:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return out


def _signer(line: str) -> Signer:
    fields = _split_options(line)
    if len(fields) < 3:
        raise ValueError("expected `PRINCIPALS [OPTIONS] KEYTYPE KEY [COMMENT]`")
    principals = fields[0].split(",")
    for p in principals:
        if not p or len(p) > MAX_PRINCIPAL or not _PRINCIPAL.fullmatch(p):
            raise ValueError(f"principal {p[:60]!r} is not a plain name (letters, digits, . _ @ + -; "
                             f"no patterns)")
    rest = fields[1:]
    options = ""
    if rest[0] not in _KEY_TYPES:
        options = rest.pop(0)
        opts = _split_commas(options)
        if "cert-authority" in opts:
            raise ValueError("cert-authority is not supported: list each signer's own key")
        if not all(_OPTION.fullmatch(o) for o in opts):
            raise ValueError(f"options {options[:80]!r}: only namespaces=, valid-after= and valid-before= are "
                             "understood")
    if len(rest) < 2 or rest[0] not in _KEY_TYPES:
        raise ValueError(f"key type {rest[0][:40]!r} is not one of {', '.join(sorted(_KEY_TYPES))}")
    key_type, key = rest[0], rest[1]
    try:
        blob = base64.b64decode(key, validate=True)
        inner, _ = _ssh_string(blob, 0)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64 of an SSH public key") from None
    if inner != key_type.encode("ascii"):
        raise ValueError(f"the key is not a {key_type} key")
    return Signer(tuple(principals), options, key_type, key, fingerprint(blob))


def parse(data: bytes, source: str = ALLOWED_SIGNERS) -> AllowedSigners:
    """Strictly parse an allowed-signers file (ConfigError naming the line)."""
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_BYTES >> 10} KiB; not an allowed-signers file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    signers: list[Signer] = []
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            raise ConfigError(f"{source}:{n}: the line is longer than {MAX_LINE} characters")
        if any(ord(c) < 32 and c != "\t" for c in line):
            raise ConfigError(f"{source}:{n}: the line holds control characters")
        try:
            signers.append(_signer(line))
        except ValueError as e:
            raise ConfigError(f"{source}:{n}: {e}", hint="see `man ssh-keygen`, ALLOWED SIGNERS") from None
        if len(signers) > MAX_ENTRIES:
            raise ConfigError(f"{source}: more than {MAX_ENTRIES} signers")
    return AllowedSigners(tuple(signers), source)


def load(repo: Repo, path: str | None = None) -> AllowedSigners | None:
    """The allowed signers: from `path` when given (a file the caller pinned,
    outside the repository's say), else the committed file (None when there
    is none)."""
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise GitmodelError(f"allowed signers {path}: {e.strerror or e}") from None
        return parse(data, path)
    committed = control.read(repo.root, ALLOWED_SIGNERS)
    return None if committed is None else parse(committed)


def keys(repo: Repo) -> AllowedSigners | None:
    """The committed allowed signers for listings, which only name keys:
    a damaged file names none there (`verify` says what is wrong)."""
    try:
        return load(repo)
    except GitmodelError:
        return None


# -- settings -------------------------------------------------------------------

@dataclass(frozen=True)
class StageRule:
    signers: tuple[str, ...] | None = None  # None: anyone the allowed-signers file lists
    require_signature: bool = False


@dataclass(frozen=True)
class Policy:
    sign: bool = False  # [registry] sign
    signers: tuple[str, ...] | None = None  # [registry] signers: who may sign version tags
    stages: dict[str, StageRule] = field(default_factory=dict)

    def stage(self, name: str) -> StageRule:
        return self.stages.get(name, StageRule())

    def stage_signers(self, name: str) -> tuple[str, ...] | None:
        rule = self.stages.get(name)
        return rule.signers if rule is not None and rule.signers is not None else self.signers


def _principals(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value) or len(value) > 1000:
        raise ConfigError(f"{where} must be a list of principals from {ALLOWED_SIGNERS}")
    for p in value:
        if not _PRINCIPAL.fullmatch(p) or len(p) > MAX_PRINCIPAL:
            raise ConfigError(f"{where}: {p[:60]!r} is not a principal name")
    return tuple(value)


def policy(repo: Repo) -> Policy:
    """The signing settings of the committed config (ConfigError when bad)."""
    where = ".gitmodel/config.toml: [registry]"
    table = repo.config.get("registry", {})
    if not isinstance(table, dict):
        return Policy()
    sign = table.get("sign", False)
    if not isinstance(sign, bool):
        raise ConfigError(f"{where} sign must be true or false")
    signers = _principals(table["signers"], f"{where} signers") if "signers" in table else None
    stages: dict[str, StageRule] = {}
    raw = table.get("stage", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} stage must be tables [registry.stage.NAME]")
    for name, rule in raw.items():
        shown = f".gitmodel/config.toml: [registry.stage.{name[:60]}]"
        try:
            check_name(name, "stage name")
        except GitmodelError as e:
            raise ConfigError(f"{shown}: {e.message}") from None
        if not isinstance(rule, dict) or set(rule) - {"signers", "require_signature"}:
            raise ConfigError(f"{shown} takes only `signers = [...]` and `require_signature = true|false`")
        required = rule.get("require_signature", False)
        if not isinstance(required, bool):
            raise ConfigError(f"{shown} require_signature must be true or false")
        stage_signers = _principals(rule["signers"], f"{shown} signers") if "signers" in rule else None
        stages[name] = StageRule(stage_signers, required)
    return Policy(sign, signers, stages)


def should_sign(repo: Repo, sign: bool | None, stage: str | None = None) -> bool | None:
    """Whether a new tag is signed: True signs (`git tag -s`), False refuses
    signing (`--no-sign`), None leaves it to the user's git (`tag.gpgSign`).
    A stage that requires signatures refuses `--no-sign`."""
    rules = policy(repo)
    required = stage is not None and rules.stage(stage).require_signature
    if sign is False and required:
        raise GitmodelError(f"stage {stage} requires signed tags ([registry.stage.{stage}] require_signature)",
                            hint="drop --no-sign and set up signing (`git config user.signingkey ...`)")
    if sign is not None:
        return sign
    return True if required or rules.sign else None


# -- what a signature claims ----------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A tag's signature block as it reads, not checked: its format and,
    for SSH, the key it names (and that key's principals in the file)."""

    format: str  # ssh | openpgp | x509
    fingerprint: str | None = None  # SSH only; None when the block does not parse
    principals: tuple[str, ...] = ()

    def label(self) -> str:
        if self.principals:
            return self.principals[0]
        if self.format != "ssh":
            return f"{self.format} key"
        # Short, as listings show oids; `--json` and `verify` give the whole fingerprint.
        return f"unlisted key {self.fingerprint[:19]}" if self.fingerprint else "unreadable signature"

    def to_json(self) -> dict[str, object]:
        return {"format": self.format, "key": self.fingerprint, "principals": list(self.principals),
                "verified": False}


def signature_block(message: str) -> tuple[str, str] | None:
    """(format, armored block) of the signature git appended to a tag message."""
    lines = message.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        kind = _BEGIN.get(lines[i].strip())
        if kind is not None:
            return kind, "\n".join(lines[i:])
    return None


def claim(message: str, allowed: AllowedSigners | None = None) -> Claim | None:
    """What the signature of a tag message names (None: unsigned)."""
    found = signature_block(message)
    if found is None:
        return None
    kind, block = found
    if kind != "ssh":
        return Claim(kind)
    fp = _ssh_key(block)
    return Claim("ssh", fp, allowed.principals_of(fp) if allowed is not None and fp else ())


def _ssh_key(block: str) -> str | None:
    """The fingerprint of the public key an SSHSIG block carries."""
    if len(block) > MAX_SIGNATURE:
        return None
    body = "".join(line.strip() for line in block.split("\n")[1:] if line.strip() and not line.startswith("-----"))
    try:
        data = base64.b64decode(body, validate=True)
        if not data.startswith(b"SSHSIG"):
            return None
        key, _ = _ssh_string(data, 10)  # after the magic and the version
    except (binascii.Error, ValueError):
        return None
    return fingerprint(key)
