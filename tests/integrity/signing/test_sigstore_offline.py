"""Sigstore (keyless) model signatures verified fully offline (issue 8, section 4).

As sigstore-python's own suite does, the tests build a complete synthetic Sigstore
instance (``sigstore_world.py``: a Fulcio-like CA, a CT log key, a Rekor-like log key, as a
``trusted_root.json``), sign a model into a real bundle (the model-signing v1.0 payload as
the ``model_signing`` package writes it, a DSSE envelope, a leaf certificate with its SCT
embedded, a log entry with inclusion proof, checkpoint and signed entry timestamp) and
verify it through ``verify_model``, ``bastion model verify`` and the registry gate. The
real ``model_signing`` tool accepts the same bundle, so the fixture is a real one. Every
spoiled part is refused with its reason.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.cli.main import main
from bastion.core.errors import InputError
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.integrity import VerificationPolicy, load_policy, record_verify, verify_model
from tests.integrity.signing.sigstore_world import IDENTITY, ISSUER, SigstoreWorld

Sign = Callable[..., Path]


def model_signing_payload(model: Path) -> bytes:
    """The in-toto statement exactly as model_signing serializes it for its signers."""
    from google.protobuf import json_format
    from model_signing import hashing
    from model_signing._signing import signing

    manifest = hashing.Config().set_ignored_paths(paths=["model.sig"]).hash(model)
    return json_format.MessageToJson(signing.Payload(manifest).statement.pb).encode()


@pytest.fixture(scope="module")
def world() -> SigstoreWorld:
    return SigstoreWorld()


@pytest.fixture
def trust_root(world: SigstoreWorld, tmp_path: Path) -> Path:
    return world.trusted_root(tmp_path / "trusted_root.json")


@pytest.fixture
def sign(world: SigstoreWorld, model: Path) -> Sign:
    """Sign ``model`` into ``model/model.sig``; keyword arguments spoil parts of it."""

    def _sign(
        edit: Callable[[dict[str, Any]], None] | None = None,
        payload: bytes | None = None,
        **kw: Any,
    ) -> Path:
        bundle = world.sign(payload or model_signing_payload(model), **kw)
        if edit is not None:
            edit(bundle)
        path = model / "model.sig"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        return path

    return _sign


def verify(model: Path, root: Path | None, **kw: Any) -> Any:
    kw.setdefault("identities", [IDENTITY])
    kw.setdefault("issuers", [ISSUER])
    return verify_model(model, sigstore_trust_root=root, **kw)


def refused(res: Any) -> dict[str, str]:
    """{rule: message} of the signature's findings (the top 'insufficient' left out)."""
    assert not res.ok
    (sig,) = res.signatures
    return {f.rule_id.removeprefix("integrity.signature."): f.message for f in sig.findings}


def test_model_signing_accepts_the_synthetic_bundle(
    world: SigstoreWorld, model: Path, sign: Sign, tmp_path: Path
) -> None:
    """The peer: model_signing's own Sigstore verifier accepts the fixture's bundle."""
    from model_signing import hashing, verifying

    sig = sign()
    config = verifying.Config().use_sigstore_verifier(
        identity=IDENTITY,
        oidc_issuer=ISSUER,
        trust_config=world.client_trust_config(tmp_path / "trust_config.json"),
    )
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig", ".git"]))
    config.verify(model, sig)


def test_sigstore_bundle_verifies_offline(model: Path, sign: Sign, trust_root: Path) -> None:
    sign()
    res = verify(model, trust_root)
    assert res.ok, [f.message for f in res.all_findings]
    (sig,) = res.signatures
    assert res.valid_signers == (f"sigstore:{IDENTITY}|{ISSUER}",)
    assert sig.signer["method"] == "sigstore" and sig.signer["issuer"] == ISSUER
    assert sig.signer["identities"] == [IDENTITY] and sig.signer["log_index"] >= 6
    assert sig.signer["trust_root"].startswith("sha256:")
    assert res.manifest_digest == sig.digest


def test_client_trust_config_is_accepted(
    world: SigstoreWorld, model: Path, sign: Sign, tmp_path: Path
) -> None:
    sign()
    res = verify(model, world.client_trust_config(tmp_path / "tc.json"))
    assert res.ok, [f.message for f in res.all_findings]


def test_modified_file_after_sigstore_signing_is_named(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    sign()
    (model / "config.json").write_text('{"layers": 3}')
    assert "modified" in refused(verify(model, trust_root))


def _replace_in_cert(old: bytes, new: bytes) -> Callable[[dict[str, Any]], None]:
    def edit(bundle: dict[str, Any]) -> None:
        cert = bundle["verificationMaterial"]["certificate"]
        der = base64.b64decode(cert["rawBytes"])
        assert der.count(old) == 1
        cert["rawBytes"] = base64.b64encode(der.replace(old, new)).decode()

    return edit


def test_tampered_certificate_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    # The identity in the leaf rewritten (the CA's signature no longer covers it); the
    # caller even allows the forged identity, so only the certificate itself can refuse.
    forged = "mallory@bank.example"
    assert len(forged) == len(IDENTITY)
    sign(edit=_replace_in_cert(IDENTITY.encode(), forged.encode()))
    why = refused(verify(model, trust_root, identities=[forged]))
    assert set(why) == {"certificate"}, why
    assert "does not chain to a Fulcio CA of the trust root" in why["certificate"]


def test_certificate_of_another_ca_is_refused(
    model: Path, sign: Sign, tmp_path: Path, world: SigstoreWorld
) -> None:
    sign()
    other = SigstoreWorld().trusted_root(tmp_path / "other_root.json")
    why = refused(verify(model, other))
    assert "certificate" in why, why


def test_wrong_identity_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    sign(identity="intern@bank.example")
    why = refused(verify(model, trust_root))
    assert set(why) == {"identity"}, why
    assert "signed by intern@bank.example, not one of the allowed identities" in why["identity"]


def test_wrong_issuer_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    sign(issuer="https://accounts.evil.example")
    why = refused(verify(model, trust_root))
    assert set(why) == {"issuer"}, why
    assert "'https://accounts.evil.example', not one of the allowed OIDC issuers" in why["issuer"]


def test_identity_and_issuer_are_both_required(model: Path, sign: Sign, trust_root: Path) -> None:
    sign()
    assert "No allowed OIDC issuers" in {
        f.title for f in verify(model, trust_root, issuers=[]).all_findings
    }
    assert "No allowed identities" in {
        f.title for f in verify(model, trust_root, identities=[]).all_findings
    }


def test_policy_and_caller_lists_both_restrict(
    model: Path, sign: Sign, trust_root: Path, tmp_path: Path
) -> None:
    sign()
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        "allowed_identities: [release@bank.example]\n"
        "allowed_issuers: [https://oidc.bank.example]\n"
        f"sigstore_trust_root: {trust_root.name}\n",
        encoding="utf-8",
    )
    policy = load_policy(pol)
    assert policy.sigstore_trust_root == str(trust_root)
    ok = verify_model(model, policy=policy)
    assert ok.ok, [f.message for f in ok.all_findings]
    # The caller's --issuer cannot widen the policy's allowed_issuers.
    res = verify_model(model, policy=policy, issuers=["https://accounts.evil.example"])
    assert "issuer" in refused(res)


def test_missing_inclusion_proof_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    sign(with_proof=False)
    why = refused(verify(model, trust_root))
    assert set(why) == {"tlog"}, why
    assert "no valid transparency log inclusion proof" in why["tlog"]


def test_stripped_log_entry_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    def strip(bundle: dict[str, Any]) -> None:
        bundle["verificationMaterial"]["tlogEntries"] = []

    sign(edit=strip)
    why = refused(verify(model, trust_root))
    assert set(why) == {"tlog"}, why
    assert "log entry" in why["tlog"]


def test_forged_inclusion_proof_is_refused(model: Path, sign: Sign, trust_root: Path) -> None:
    sign(forge_proof=True)
    why = refused(verify(model, trust_root))
    assert set(why) == {"inclusion-proof"}, why
    assert "inclusion proof does not verify" in why["inclusion-proof"]


def test_checkpoint_not_signed_by_trusted_log_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    sign(checkpoint_key=ec.generate_private_key(ec.SECP256R1()))
    why = refused(verify(model, trust_root))
    assert set(why) == {"checkpoint"}, why
    assert "not signed by a transparency log of the trust root" in why["checkpoint"]


def test_checkpoint_for_another_tree_size_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    def resize(bundle: dict[str, Any]) -> None:
        proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        proof["treeSize"] = str(int(proof["treeSize"]) + 1)

    sign(edit=resize)
    why = refused(verify(model, trust_root))
    assert "checkpoint" in why or "inclusion-proof" in why, why


def test_forged_signed_entry_timestamp_is_refused(
    model: Path, sign: Sign, trust_root: Path, world: SigstoreWorld
) -> None:
    sign(log_key=ec.generate_private_key(ec.SECP256R1()), checkpoint_key=world.log_key)
    why = refused(verify(model, trust_root))
    assert set(why) == {"entry-timestamp"}, why


def test_expired_certificate_without_valid_timestamp_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    # The log integrated the entry an hour after the 10-minute certificate expired.
    t = datetime.now(UTC) - timedelta(hours=3)
    sign(signed_at=t, integrated_at=t + timedelta(hours=1))
    why = refused(verify(model, trust_root))
    assert set(why) == {"timestamp"}, why
    assert "it was expired when signed" in why["timestamp"]
    assert "no trusted timestamp shows otherwise" in why["timestamp"]


def test_integrated_time_without_signed_entry_timestamp_is_not_a_time(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    sign(with_promise=False)
    why = refused(verify(model, trust_root))
    assert set(why) == {"timestamp"}, why
    assert "no signed entry timestamp" in why["timestamp"]


def test_sct_not_signed_by_trusted_ct_log_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    sign(sct_key=ec.generate_private_key(ec.SECP256R1()))
    why = refused(verify(model, trust_root))
    assert set(why) == {"sct"}, why


def test_payload_swapped_after_signing_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    def swap(bundle: dict[str, Any]) -> None:
        env = bundle["dsseEnvelope"]
        st = json.loads(base64.b64decode(env["payload"]))
        st["subject"][0]["name"] = "another-model"
        env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()

    sign(edit=swap)
    why = refused(verify(model, trust_root))
    assert set(why) == {"invalid"}, why


def test_sigstore_bundle_without_trust_root_is_refused(model: Path, sign: Sign) -> None:
    sign()
    why = refused(verify(model, None))
    assert set(why) == {"untrusted"}, why
    assert "--sigstore-trust-root" in why["untrusted"]


def test_in_house_bundle_is_not_accepted_by_a_sigstore_root(
    model: Path, world: SigstoreWorld, trust_root: Path, tmp_path: Path
) -> None:
    """A certificate bundle without a log entry is not a Sigstore signature, even with a
    leaf from the trusted Fulcio CA: without the log there is no trusted signing time."""
    from cryptography.hazmat.primitives import serialization

    from bastion.integrity import load_signing_key, sign_model

    key = ec.generate_private_key(ec.SECP256R1())
    cert = world.leaf(key, not_before=datetime.now(UTC) - timedelta(minutes=1))
    (tmp_path / "leaf.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "leaf.key").chmod(0o600)
    sign_model(model, load_signing_key(tmp_path / "leaf.key"), certificate=tmp_path / "leaf.pem")
    why = refused(verify(model, trust_root))
    assert set(why) == {"tlog"}, why
    assert "not a Sigstore (keyless) signature" in why["tlog"]


def test_ca_and_log_key_validity_windows_are_enforced(
    world: SigstoreWorld, model: Path, sign: Sign, tmp_path: Path
) -> None:
    """A Fulcio CA or a log key retired (validFor end) before the signing time does not
    vouch for it, although its certificate and signatures still verify."""
    sign()
    retired = datetime.now(UTC) - timedelta(days=1)
    ca = world.trusted_root(tmp_path / "ca_retired.json", ca_until=retired)
    why = refused(verify(model, ca))
    assert set(why) == {"certificate"}, why
    assert "no Fulcio CA of the trust root was valid (validFor)" in why["certificate"]
    log = world.trusted_root(tmp_path / "log_retired.json", log_until=retired)
    why = refused(verify(model, log))
    assert set(why) == {"tlog"}, why
    assert "log's key was not valid (validFor)" in why["tlog"]


def test_entry_of_a_log_not_in_the_trust_root_is_refused(
    model: Path, sign: Sign, trust_root: Path
) -> None:
    def rename(bundle: dict[str, Any]) -> None:
        entry = bundle["verificationMaterial"]["tlogEntries"][0]
        entry["logId"]["keyId"] = base64.b64encode(bytes(32)).decode()

    sign(edit=rename)
    why = refused(verify(model, trust_root))
    assert "tlog" in why and "not a transparency log of the trust root" in why["tlog"], why


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON"),
        (b'{"mediaType": "application/json"}', "is not a Sigstore TrustedRoot"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",'
            b' "tlogs": "x"}',
            "not a valid Sigstore TrustedRoot (field",
        ),
    ],
)
def test_bad_trust_root_is_an_input_error(
    model: Path, sign: Sign, tmp_path: Path, content: bytes, message: str
) -> None:
    sign()
    bad = tmp_path / "bad_root.json"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(message)):
        verify(model, bad)


def test_trust_root_without_transparency_log_is_an_input_error(
    world: SigstoreWorld, model: Path, sign: Sign, tmp_path: Path
) -> None:
    sign()
    doc = world.trusted_root_json()
    doc["tlogs"] = []
    path = tmp_path / "no_tlog.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="no transparency log"):
        verify(model, path)


# --- through the CLI and the registry gate ----------------------------------------------


def _cli(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return rc, out + err


def test_cli_model_verify_sigstore(
    model: Path, sign: Sign, trust_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert _cli(home, capsys, "init")[0] == 0
    sign()
    base = ["model", "verify", str(model), "--sigstore-trust-root", str(trust_root)]
    rc, out = _cli(
        home, capsys, *base, "--identity", IDENTITY, "--issuer", ISSUER, "--format", "json"
    )
    assert rc == 0, out
    d = json.loads(out)
    assert d["ok"] and d["valid_signers"] == [f"sigstore:{IDENTITY}|{ISSUER}"]
    assert d["ledger_seq"] is not None
    rc, out = _cli(home, capsys, *base, "--identity", IDENTITY, "--issuer", "https://evil.example")
    assert rc == 1 and "integrity.signature.issuer" in out and "FAILED" in out
    rc, out = _cli(home, capsys, *base, "--identity", "intern@bank.example", "--issuer", ISSUER)
    assert rc == 1 and "integrity.signature.identity" in out
    (tmp_path / "broken.json").write_text("{nope")
    rc, out = _cli(
        home,
        capsys,
        "model",
        "verify",
        str(model),
        "--sigstore-trust-root",
        str(tmp_path / "broken.json"),
        "--identity",
        IDENTITY,
        "--issuer",
        ISSUER,
    )
    assert rc == 2 and "not JSON" in out


GATE_SIGNERS = "cert:release@bank.example, cert:ml-release@bank.example"


def test_gate_accepts_a_sigstore_signed_version(
    ws: Workspace, world: SigstoreWorld, tmp_path: Path
) -> None:
    from bastion.governance import apply_config, load_config
    from bastion.inventory import import_manifest
    from bastion.manifest import load_manifest
    from bastion.registry import evaluate_gate, parse_policy, register_model, set_policy
    from tests.registry._helpers import (
        EXAMPLE_MANIFEST,
        GOVERNANCE,
        POLICY,
        model_dir,
        ref_of,
    )

    text = POLICY.read_text()
    assert text.count(GATE_SIGNERS) == 1
    signer = f"sigstore:{IDENTITY}|{ISSUER}"
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="test", actor="test")
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    set_policy(ws, parse_policy(text.replace(GATE_SIGNERS, signer)), actor="test")
    path = model_dir(tmp_path)
    v = register_model(
        ws,
        "credit-gbm",
        path,
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
    )
    root = world.trusted_root(tmp_path / "trusted_root.json")
    (path / "model.sig").write_text(json.dumps(world.sign(model_signing_payload(path))))

    def requirement() -> Any:
        gate = evaluate_gate(ws, "credit-gbm", v.version, "production")
        return {r.id: r for r in gate.requirements}["evidence:integrity.signature"]

    assert not requirement().satisfied
    # Verified with the wrong issuer: evidence fails, the requirement stays unmet.
    _res, bad = record_verify(
        ws,
        path,
        name=ref_of(v),
        sigstore_trust_root=root,
        identities=[IDENTITY],
        issuers=["https://evil.example"],
        actor="test",
    )
    assert bad.verdict is Verdict.FAIL
    assert not requirement().satisfied
    res, ev = record_verify(
        ws,
        path,
        name=ref_of(v),
        policy=VerificationPolicy(
            allowed_identities=[IDENTITY],
            allowed_issuers=[ISSUER],
            sigstore_trust_root=str(root),
        ),
        actor="test",
    )
    assert res is not None and res.ok and ev.verdict is Verdict.PASS
    assert ev.subject.digest == v.digest
    assert ev.data["valid_signers"] == [signer]
    req = requirement()
    assert req.satisfied, req.reason


def test_checks_run_takes_the_sigstore_parameters(
    model: Path, sign: Sign, trust_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert _cli(home, capsys, "init")[0] == 0
    sign()
    args = ["checks", "run", "integrity.signature", "--subject", f"model:{model}"]
    trust = ["-p", f"sigstore_trust_root={trust_root}", "-p", f"identity={IDENTITY}"]
    rc, out = _cli(home, capsys, *args, *trust, "-p", f"issuer={ISSUER}", "--format", "json")
    assert rc == 0, out
    assert f"sigstore:{IDENTITY}|{ISSUER}" in out
    rc, out = _cli(home, capsys, *args, *trust, "-p", "issuer=https://evil.example")
    assert rc != 0 and "issuer" in out


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_bundle_never_verifies_and_never_crashes(
    data: st.DataObject, model: Path, sign: Sign, trust_root: Path
) -> None:
    """Any one byte of the bundle changed: an input error or a refusal, never a pass."""
    path = sign()
    original = path.read_bytes()
    raw = bytearray(original)
    i = data.draw(st.integers(0, 10**6)) % len(raw)
    raw[i] ^= data.draw(st.integers(1, 255))
    path.write_bytes(bytes(raw))
    try:
        res = verify(model, trust_root)
    except InputError:
        return
    if res.ok:
        # Only a change that leaves every signed byte as it was may still verify (JSON
        # whitespace, a non-canonical base64 spelling of the same bytes).
        def material(doc: bytes) -> tuple[bytes, ...]:
            d = json.loads(doc)
            env, vm = d["dsseEnvelope"], d["verificationMaterial"]
            entry = vm["tlogEntries"][0]
            return (
                base64.b64decode(env["payload"]),
                base64.b64decode(env["signatures"][0]["sig"]),
                base64.b64decode(vm["certificate"]["rawBytes"]),
                base64.b64decode(entry["canonicalizedBody"]),
            )

        assert material(bytes(raw)) == material(original)
