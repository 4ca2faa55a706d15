"""Signed versions and stages with real keys and real git: ed25519 keys made
by ssh-keygen here, tags signed by git itself (`gpg.format=ssh`,
`user.signingkey`), and `gitmodel verify` deciding with `git verify-tag`
against the committed `.gitmodel/allowed_signers`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitmodel.errors import GitmodelError
from gitmodel.registry import signers
from gitmodel.registry.signing import SignatureError, verification_required, verify_ref
from gitmodel.repo import Repo
from tests.support.cli import GM, assert_one_line_error
from tests.support.git import git
from tests.support.signing import allow, as_, config, fp, make_keys

if shutil.which("ssh-keygen") is None:
    pytest.skip("ssh-keygen is not installed", allow_module_level=True)

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_keys(tmp_path_factory.mktemp("keys"))


def train(root: Path, gm: GM, content: str) -> None:
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "clf.pkl").write_text(content)
    assert gm("add", "models/clf.pkl").code == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", f"train {content}", cwd=root)


@pytest.fixture
def clf(repo: Path, gm: GM, keys: dict[str, Path]) -> Path:
    """clf declared and trained once; alice and bob are allowed signers; alice signs."""
    train(repo, gm, "model-1")
    assert gm("model", "add", "clf", "models/clf.pkl").code == 0
    git("commit", "-q", "-m", "declare clf", cwd=repo)
    allow(repo, keys, "alice", "bob")
    as_(repo, keys["alice"])
    return repo


def ok(gm: GM, *args: str) -> str:
    r = gm(*args)
    assert r.code == 0, r
    return r.out


def test_an_allowed_signer_verifies_and_listings_name_the_signer(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    r = gm("tag", "clf", "v1.0.0", "--sign")
    assert r.code == 0 and "created signed tag clf@v1.0.0" in r.out and r.err == "", r
    assert "signed tag clf#prod#" in ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    out = ok(gm, "verify", "clf#prod")
    assert "clf v1.0.0 in stage prod" in out and "alice@example.com" in out and fp(keys["alice"]) in out
    assert "alice@example.com" in ok(gm, "verify", "clf@v1.0.0")
    ok(gm, "verify", "clf@latest")
    data = json.loads(ok(gm, "verify", "clf#prod", "--json"))
    assert data["ok"] is True and [t["role"] for t in data["tags"]] == ["stage", "version"]
    assert {t["principal"] for t in data["tags"]} == {"alice@example.com"}
    # Who signed each event, in every listing, --json in step.
    assert "SIGNED" in (out := ok(gm, "versions", "clf")) and "alice@example.com" in out
    listed = json.loads(ok(gm, "versions", "clf", "--json"))[0]["signed_by"]
    assert listed == {"format": "ssh", "key": fp(keys["alice"]), "principals": ["alice@example.com"],
                      "verified": False}
    events = json.loads(ok(gm, "history", "clf", "--json"))
    assert [e["signed_by"]["principals"] for e in events] == [["alice@example.com"]] * 2
    assert ok(gm, "history", "clf").count("alice@example.com") == 2
    shown = ok(gm, "show", "clf@v1.0.0")
    assert f"signed   alice@example.com ({fp(keys['alice'])}), verified" in shown
    assert json.loads(ok(gm, "show", "clf@v1.0.0", "--json"))["signature"]["ok"] is True
    # The Python function the API will call.
    v = verify_ref(Repo.discover(str(clf)), "clf#prod")
    assert v.ok and v.version == "v1.0.0" and v.check() is v


def test_a_key_not_in_the_file_is_refused_by_its_fingerprint(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    as_(clf, keys["mallory"])
    r = gm("tag", "clf", "v1.0.0", "--sign")
    assert r.code == 0 and "`gitmodel verify` will refuse it" in r.err, r  # said when it is made
    line = assert_one_line_error(gm("verify", "clf@v1.0.0"), "tag clf@v1.0.0 is signed by key", fp(keys["mallory"]))
    assert "does not list" in line
    assert f"unlisted key {fp(keys['mallory'])[:19]}" in ok(gm, "versions")
    assert "NOT VERIFIED" in ok(gm, "show", "clf@v1.0.0")
    with pytest.raises(SignatureError, match="does not list"):
        verify_ref(Repo.discover(str(clf)), "clf@v1.0.0").check()


def test_an_unsigned_promotion_is_refused(clf: Path, gm: GM) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--no-sign")
    assert_one_line_error(gm("verify", "clf#prod"), "clf#prod: tag clf#prod#1 is not signed")
    ok(gm, "verify", "clf@v1.0.0")  # the version itself is signed
    r = gm("verify", "clf#prod", "--json")
    assert r.code == 1 and json.loads(r.out)["ok"] is False and json.loads(r.out)["tags"][0]["ok"] is False, r
    assert_one_line_error(r, "is not signed")
    assert json.loads(ok(gm, "history", "clf", "--json"))[0]["signed_by"] is None


def test_a_stage_signed_by_another_allowed_principal_is_refused(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    config(clf, '[registry.stage.prod]\nsigners = ["alice@example.com"]\nrequire_signature = true\n')
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "staging", "--sign")
    as_(clf, keys["bob"])
    r = gm("promote", "clf", "v1.0.0", "prod")  # require_signature: signed without --sign
    assert r.code == 0 and "signed tag" in r.out, r
    assert "warning: tag clf#prod#2 is signed by bob@example.com, who may not sign stage prod" in r.err
    assert_one_line_error(gm("verify", "clf#prod"), "signed by bob@example.com, who may not sign stage prod",
                          "allowed: alice@example.com")
    ok(gm, "verify", "clf#staging")  # no rule for staging: any allowed signer
    # require_signature refuses an unsigned prod tag before writing one.
    before = git("tag", "-l", cwd=clf)
    assert_one_line_error(gm("deprecate", "clf", "--stage", "prod", "--no-sign"), "stage prod requires signed tags")
    assert git("tag", "-l", cwd=clf) == before
    repo = Repo.discover(str(clf))
    assert verification_required(repo, "clf#prod") and not verification_required(repo, "clf#staging")
    # A principal the rule names must be one the file lists (a typo is said).
    config(clf, '[registry.stage.dev]\nsigners = ["alcie@example.com"]\n')
    assert_one_line_error(gm("verify", "clf#staging"), "names alcie@example.com, whom")


def test_a_signed_stage_tag_on_an_unsigned_version_is_refused(clf: Path, gm: GM) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--no-sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    assert_one_line_error(gm("verify", "clf#prod"), "clf#prod: tag clf@v1.0.0 is not signed")


def test_a_tampered_tag_is_refused(clf: Path, gm: GM) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    ok(gm, "verify", "clf#prod")
    raw = git("cat-file", "tag", "clf#prod#1", cwd=clf)
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    forged = raw.replace("Assigning stage prod", "Assigning stage prod (approved by the CTO)")
    oid = git("mktag", cwd=clf, input=forged).strip()  # a well-formed tag object, signature kept
    git("update-ref", "refs/tags/clf#prod#1", oid, cwd=clf)
    assert "approved by the CTO" in git("cat-file", "tag", "clf#prod#1", cwd=clf)
    assert_one_line_error(gm("verify", "clf#prod"), "tag clf#prod#1 does not match its signature")


def test_a_re_promotion_by_a_foreign_key_decides_the_stage(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    train(clf, gm, "model-2")
    ok(gm, "tag", "clf", "v1.1.0", "--sign")
    ok(gm, "promote", "clf", "v1.1.0", "prod", "--sign")
    ok(gm, "verify", "clf#prod")
    as_(clf, keys["mallory"])
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")  # back to v1.0.0, whose first promotion alice signed
    assert_one_line_error(gm("verify", "clf#prod"), "tag clf#prod#3 is signed by key", fp(keys["mallory"]))
    ok(gm, "verify", "clf@v1.0.0")  # the version itself is still alice's


def test_a_foreign_unassignment_that_rolls_a_stage_back_is_refused(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
    train(clf, gm, "model-2")
    ok(gm, "tag", "clf", "v1.1.0", "--sign")
    ok(gm, "promote", "clf", "v1.1.0", "prod", "--sign")
    ok(gm, "verify", "clf#prod")
    as_(clf, keys["mallory"])
    ok(gm, "deprecate", "clf", "--stage", "prod", "--sign")  # prod falls back to v1.0.0...
    assert json.loads(ok(gm, "show", "clf#prod", "--json"))["version"] == "v1.0.0"
    # ...whose own tags alice signed; the unassignment that chose it is mallory's.
    assert_one_line_error(gm("verify", "clf#prod"), "tag clf#prod!#3 is signed by key", fp(keys["mallory"]))
    # Likewise `latest`: a foreign deregistration of the greatest version.
    ok(gm, "deprecate", "clf", "v1.1.0", "--sign")
    assert_one_line_error(gm("verify", "clf@latest"), "tag clf@v1.1.0! is signed by key")


def test_sign_true_in_the_config_signs_by_default(clf: Path, gm: GM) -> None:
    config(clf, "[registry]\nsign = true\n")
    ok(gm, "tag", "clf", "v1.0.0")
    assert "-----BEGIN SSH SIGNATURE-----" in git("cat-file", "tag", "clf@v1.0.0", cwd=clf)
    ok(gm, "promote", "clf", "v1.0.0", "prod")
    ok(gm, "verify", "clf#prod")
    ok(gm, "promote", "clf", "v1.0.0", "dev", "--no-sign")
    assert "SIGNATURE" not in git("cat-file", "tag", "clf#dev#2", cwd=clf)


@pytest.mark.parametrize("key", ["missing", "unset"])
def test_a_missing_signing_key_is_one_line_and_leaves_no_tag(clf: Path, gm: GM, key: str) -> None:
    if key == "missing":
        as_(clf, clf.parent / "no-such-key")  # git 2.39 would make an unsigned tag here
    else:
        git("config", "--unset", "user.signingkey", cwd=clf)
    assert_one_line_error(gm("tag", "clf", "v1.0.0", "--sign"), "could not sign tag clf@v1.0.0")
    assert git("tag", "-l", cwd=clf) == ""
    as_(clf, clf.parent / "no-such-key")
    ok(gm, "tag", "clf", "v1.0.0", "--no-sign")
    assert_one_line_error(gm("promote", "clf", "v1.0.0", "prod", "--sign"), "could not sign tag clf#prod#1")
    assert git("tag", "-l", cwd=clf).split() == ["clf@v1.0.0"]


def test_the_allowed_signers_file_is_parsed_strictly(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    path = clf / ".gitmodel" / "allowed_signers"
    good = path.read_text()
    pub = keys["alice"].with_suffix(".pub").read_text().split()
    for bad, needle in [(f"*@example.com {pub[0]} {pub[1]}", "not a plain name"),
                        (f"a@x cert-authority {pub[0]} {pub[1]}", "cert-authority is not supported"),
                        (f'a@x command="rm -rf /" {pub[0]} {pub[1]}', "only namespaces="),
                        (f"a@x {pub[0]} AAAAnotbase64!", "not valid base64"),
                        (f"a@x ssh-rsa {pub[1]}", "not a ssh-rsa key")]:
        path.write_text(good + bad + "\n")
        assert_one_line_error(gm("verify", "clf@v1.0.0"), ".gitmodel/allowed_signers:4:", needle)
    path.unlink()
    assert_one_line_error(gm("verify", "clf@v1.0.0"), "allowed_signers does not exist")
    path.symlink_to(clf.parent / "elsewhere")
    assert_one_line_error(gm("verify", "clf@v1.0.0"), "is a symlink")
    # What git is given is what was parsed: options kept, comments dropped.
    parsed = signers.parse(f'alice@example.com,al namespaces="git" {pub[0]} {pub[1]} laptop\n'.encode())
    assert parsed.render().decode() == f'alice@example.com,al namespaces="git" {pub[0]} {pub[1]}\n'
    assert parsed.principals_of(fp(keys["alice"])) == ("alice@example.com", "al")


def test_a_pinned_allowed_signers_file_overrides_the_committed_one(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    pinned = clf.parent / "pinned_signers"
    pinned.write_text((clf / ".gitmodel" / "allowed_signers").read_text())
    as_(clf, keys["mallory"])
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    allow(clf, keys, "alice", "bob", "mallory")  # whoever can push can change the committed file...
    ok(gm, "verify", "clf@v1.0.0")
    # ...so a deploy target trusts its own copy.
    assert_one_line_error(gm("verify", "clf@v1.0.0", "--allowed-signers", str(pinned)), fp(keys["mallory"]))


@pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("gpgconf") is None, reason="gpg is not installed")
def test_an_openpgp_signature_is_made_by_git_and_named_but_not_trusted(clf: Path, gm: GM, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                        "Carol <carol@example.com>", "ed25519", "sign", "never"], check=True, capture_output=True)
        ok(gm, "tag", "clf", "v1.0.0", "--sign")
        git("config", "gpg.format", "openpgp", cwd=clf)
        git("config", "user.signingkey", "carol@example.com", cwd=clf)
        ok(gm, "promote", "clf", "v1.0.0", "prod", "--sign")
        assert "-----BEGIN PGP SIGNATURE-----" in git("cat-file", "tag", "clf#prod#1", cwd=clf)
        git("tag", "-v", "clf#prod#1", cwd=clf)  # git's own check of it passes
        assert_one_line_error(gm("verify", "clf#prod"), "tag clf#prod#1 is signed with an openpgp key",
                              "only SSH signatures")
        assert json.loads(ok(gm, "history", "clf", "--json"))[0]["signed_by"]["format"] == "openpgp"
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False)


def test_a_key_listed_only_for_past_dates_is_named_as_such(clf: Path, gm: GM, keys: dict[str, Path]) -> None:
    ok(gm, "tag", "clf", "v1.0.0", "--sign")
    pub = keys["alice"].with_suffix(".pub").read_text().split()
    (clf / ".gitmodel" / "allowed_signers").write_text(f'alice@example.com valid-before="20000101" {pub[0]} {pub[1]}\n')
    assert_one_line_error(gm("verify", "clf@v1.0.0"), "which .gitmodel/allowed_signers lists, but not for git's")


_LINE_PARTS = st.sampled_from(["alice@example.com", "a,b", "*", "!x", '"', 'namespaces="git"', "cert-authority",
                               'valid-after="20240101"', "ssh-ed25519", "ssh-rsa", "AAAAC3NzaC1lZDI1NTE5AAAA",
                               "AAAAC3NzaC1lZDI1NTE5AAAAIOk=", "#", "\t", "\x00", "é", "x" * 300])


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=300), st.lists(st.lists(_LINE_PARTS, max_size=6).map(" ".join),
                                                   max_size=5).map(lambda ls: "\n".join(ls).encode())))
def test_any_allowed_signers_bytes_parse_or_are_one_line(data: bytes) -> None:
    try:
        parsed = signers.parse(data)
    except GitmodelError as e:
        assert "\n" not in str(e)
        return
    assert signers.parse(parsed.render()) == signers.AllowedSigners(parsed.signers, parsed.source)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.text(max_size=300), st.sampled_from(list(signers._BEGIN)), st.binary(max_size=120))
def test_any_signature_block_claims_something_or_nothing(text: str, begin: str, body: bytes) -> None:
    import base64

    for message in (text, f"{text}\n{begin}\n{base64.b64encode(b'SSHSIG' + body).decode()}\n-----END-----\n"):
        found = signers.claim(message)
        assert found is None or found.format in ("ssh", "openpgp", "x509")
