"""Regression tests of issue 14's gate findings (3: producers, 4: tier downgrade, 8: edited
evidence rows, 11: aliases on ungated versions), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bastion.access import Role, authenticate, create_token, revoke_token
from bastion.core.errors import InputError, PermissionDeniedError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import get_system
from bastion.manifest import load_manifest
from bastion.registry import (
    evaluate_gate,
    get_version,
    import_mlflow,
    parse_policy,
    promote,
    register_model,
    set_alias,
    set_policy,
)
from bastion.risk import assign_tier, rate_system
from tests.conftest import EXAMPLE_MANIFEST
from tests.registry._helpers import approver, model_dir, ref_of, setup

SCAN_ONLY = """
apiVersion: bastion/v1
kind: GatePolicy
default_tier: 4
tiers:
  4:
    stages:
      staging:
        evidence:
          - kind: integrity.scan
      production:
        evidence:
          - kind: integrity.scan
            producers: [security, "token:*:ci-bot"]
"""


def _exec(ws: Workspace, sql: str, **params: object) -> None:
    with ws.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _register(ws: Workspace, tmp_path: Path, **kw: object) -> object:
    return register_model(
        ws,
        "credit-gbm",
        model_dir(tmp_path),
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
        **kw,  # type: ignore[arg-type]
    )


def _scan(ws: Workspace, v: object, actor: str) -> str:
    from bastion.integrity import record_scan, scan_path

    path = Path(str(v.source))  # type: ignore[attr-defined]
    return record_scan(ws, scan_path(path), name=ref_of(v), actor=actor).id  # type: ignore[arg-type]


def test_finding_03_gate_restricts_and_records_evidence_producers(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    set_policy(ws, parse_policy(SCAN_ONLY), actor="test")
    v = _register(ws, tmp_path, tier=4)
    eng = authenticate(ws, create_token(ws, name="eng", role=Role.ENGINEER).token)
    sec_tok = create_token(ws, name="sec", role=Role.SECURITY)
    sec = authenticate(ws, sec_tok.token)
    # An engineer's scan: recorded, but not by an allowed producer.
    eng_scan = _scan(ws, v, eng.actor)
    gate = evaluate_gate(ws, "credit-gbm", "1", "production")
    (req,) = gate.requirements
    assert not req.satisfied
    assert "from an allowed producer (security, token:*:ci-bot)" in req.reason
    assert f"{eng.actor} (engineer token)" in req.reason
    # Staging has no producer restriction: the engineer's scan counts, and says who made it.
    staging = evaluate_gate(ws, "credit-gbm", "1", "staging")
    assert staging.satisfied and staging.evidence_producers == {eng_scan: eng.actor}
    # A security token's scan counts; the local administrator ("test") is role admin only.
    _scan(ws, v, "test")
    assert not evaluate_gate(ws, "credit-gbm", "1", "production").satisfied
    sec_scan = _scan(ws, v, sec.actor)
    gate = evaluate_gate(ws, "credit-gbm", "1", "production")
    assert gate.satisfied, gate.to_dict()
    assert gate.evidence_producers == {sec_scan: sec.actor}
    assert gate.to_dict()["requirements"][0]["evidence_producers"] == {sec_scan: sec.actor}
    # An actor pattern: the CI bot's token, whatever its role.
    bot = authenticate(ws, create_token(ws, name="ci-bot", role=Role.ENGINEER).token)
    bot_scan = _scan(ws, v, bot.actor)
    assert evaluate_gate(ws, "credit-gbm", "1", "production").evidence_ids == [bot_scan]
    # The promotion event records the producer of each evidence it relied on.
    res = promote(ws, "credit-gbm", "1", "production", actor="dana")
    assert res.promoted
    (event,) = ws.ledger.entries(kind="registry.promote", limit=5)
    assert event.data["evidence_producers"] == {bot_scan: bot.actor}
    assert get_version(ws, "credit-gbm", "1").gate_passed["production"]["evidence_producers"] == {
        bot_scan: bot.actor
    }
    # A revoked security token's evidence no longer counts (nor the bot's, once newer).
    v2 = register_model(
        ws, "credit-gbm", model_dir(tmp_path, b"v2"), system="credit-scoring", actor="dana"
    )
    _scan(ws, v2, sec.actor)
    assert evaluate_gate(ws, "credit-gbm", "2", "production").satisfied
    revoke_token(ws, sec_tok.info.id)
    gate = evaluate_gate(ws, "credit-gbm", "2", "production")
    assert not gate.satisfied and "unknown or revoked token" in gate.requirements[0].reason
    refused = promote(ws, "credit-gbm", "2", "production", actor="dana")
    assert not refused.promoted
    (ev,) = ws.ledger.entries(kind="registry.promotion_refused", limit=5)
    assert "evidence_producers" in ev.data
    with pytest.raises(InputError, match="producer 'bad actor!' must be a role name"):
        parse_policy(SCAN_ONLY.replace('"token:*:ci-bot"', '"bad actor!"'))


def test_finding_04_gate_ignores_an_untrusted_tier(ws: Workspace, tmp_path: Path) -> None:
    """An engineer's tier-4 risk.tier evidence (the doctored-manifest trick) and ratings of
    any manifest but the inventory's current one never set a model's tier: the gate stays
    at the fail-closed default (tier 1) and says why; a trusted rating is used."""
    setup(ws)  # the example policy: default tier 1, tier 4 needs only a signature
    _register(ws, tmp_path)
    eng = authenticate(ws, create_token(ws, name="eng", role=Role.ENGINEER).token)
    manifest = load_manifest(EXAMPLE_MANIFEST)
    doc = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["system"]["decision_impact"] = ["none"]
    doc["system"]["data_sensitivity"] = "public"
    doc["system"]["regulatory_scope"] = []
    doc["system"].get("tags", {}).pop("risk-tier", None)
    from bastion.manifest import SystemManifest

    doctored = SystemManifest.model_validate(doc)
    four = rate_system(doctored)
    assert four.tier == 4
    # What the old POST /risk/tier stored for an engineer, bound to the current digest.
    forged = ws.evidence.record(
        check_id="risk.tier",
        subject=Subject("system", "credit-scoring", get_system(ws, "credit-scoring").digest),
        verdict=Verdict.PASS,
        data=four.to_dict(),
        actor=eng.actor,
    )
    # And a local rating of the doctored manifest itself (another digest).
    assign_tier(ws, doctored, actor="cli")
    gate = evaluate_gate(ws, "credit-gbm", "1", "production")
    assert gate.tier == 1 and gate.tier_evidence is None
    assert gate.tier_source.startswith("policy default_tier (ignored: ")
    assert f"risk.tier evidence {forged.id[:8]} by {eng.actor} (engineer token)" in (
        gate.tier_source
    )
    assert "another manifest than the inventory's current" in gate.tier_source
    refused = promote(ws, "credit-gbm", "1", "production", actor="dana")
    assert not refused.promoted and refused.gate is not None and refused.gate.tier == 1
    # A trusted rating of the stored manifest (local administrator) is used, and recorded.
    _a, ev_id = assign_tier(ws, system="credit-scoring", actor="cli")
    gate = evaluate_gate(ws, "credit-gbm", "1", "production")
    assert gate.tier == 2 and gate.tier_evidence == ev_id
    assert gate.tier_source.startswith(f"risk.tier evidence {ev_id} by cli")
    assert gate.evidence_producers[ev_id] == "cli"


def test_finding_08_gate_refuses_an_edited_evidence_row(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    set_policy(ws, parse_policy(SCAN_ONLY.replace("producers: [security", "producers: [admin")))
    v = _register(ws, tmp_path, tier=4)
    bad = ws.evidence.record(
        check_id="integrity.scan",
        subject=Subject("model", ref_of(v), v.digest),  # type: ignore[attr-defined]
        verdict=Verdict.FAIL,
        data={"verdict": "dangerous"},
        actor="test",
    )
    assert not evaluate_gate(ws, "credit-gbm", "1", "staging").satisfied
    _exec(ws, "UPDATE evidence SET verdict = 'pass' WHERE id = :i", i=bad.id)
    assert ws.evidence.get(bad.id).verdict is Verdict.PASS  # the row says pass now
    gate = evaluate_gate(ws, "credit-gbm", "1", "staging")
    (req,) = gate.requirements
    assert not req.satisfied and req.evidence_ids == (bad.id,)
    assert "does not match its ledgered digest" in req.reason
    assert not promote(ws, "credit-gbm", "1", "staging", actor="dana").promoted
    # ledger verify --deep names it.
    rep = ws.evidence.deep_verify()
    assert not rep.ok
    assert [p.kind for p in rep.problems] == ["evidence"]
    assert bad.id in rep.problems[0].message and "edited" in rep.problems[0].message


def test_finding_11_alias_only_on_gated_versions_or_privileged(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    set_policy(ws, parse_policy(SCAN_ONLY), actor="test")
    v = _register(ws, tmp_path, tier=4)
    eng = authenticate(ws, create_token(ws, name="eng", role=Role.ENGINEER).token)
    with pytest.raises(PermissionDeniedError, match="passed no gate"):
        set_alias(ws, "credit-gbm", "champion", "1", actor="eng")
    with pytest.raises(PermissionDeniedError, match="passed no gate"):
        set_alias(ws, "credit-gbm", "champion", "1", actor="eng", principal=eng)
    no_mfa = authenticate(ws, create_token(ws, name="ap", role=Role.APPROVER).token)
    with pytest.raises(PermissionDeniedError, match="passed no gate"):
        set_alias(ws, "credit-gbm", "champion", "1", actor="ap", principal=no_mfa)
    with pytest.raises(PermissionDeniedError, match="passed no gate"):
        register_model(ws, "credit-gbm", model_dir(tmp_path, b"v2"), alias="champion", actor="dana")
    assert get_version(ws, "credit-gbm", "1").aliases == ()
    # A privileged action: an approver (or admin) with MFA.
    boss = approver(ws, "boss")
    got = set_alias(ws, "credit-gbm", "challenger", "1", actor="boss", principal=boss)
    assert got.aliases == ("challenger",)
    (event,) = ws.ledger.entries(kind="registry.alias_set", limit=5)
    assert event.data["gated"] is False and event.data["privileged_by"] == boss.actor
    # Once through a gate, anyone who may write can move the alias onto it.
    _scan(ws, v, "test")
    assert promote(ws, "credit-gbm", "1", "staging", actor="dana").promoted
    got = set_alias(ws, "credit-gbm", "champion", "1", actor="eng", principal=eng)
    assert set(got.aliases) == {"challenger", "champion"}
    # MLflow aliases without a privileged caller stay provenance only.
    run = tmp_path / "mlruns" / "0" / "r1"
    art = run / "artifacts" / "model"
    art.mkdir(parents=True)
    (art / "MLmodel").write_text("artifact_path: model\nflavors: {sklearn: {}}\nrun_id: r1\n")
    (art / "model.pkl").write_bytes(b"\x80\x04not-loaded")
    reg = tmp_path / "mlruns" / "models" / "m" / "version-1"
    reg.mkdir(parents=True)
    (reg / "meta.yaml").write_text(f"name: m\nversion: 1\nsource: {art}\n")
    (reg.parent / "meta.yaml").write_text("name: m\naliases:\n- {alias: champion, version: '1'}\n")
    mv = import_mlflow(ws, reg, actor="dana")
    assert mv.aliases == () and mv.provenance["mlflow"]["aliases"] == ["champion"]


def test_finding_11_api_alias_needs_a_gate_or_privilege(ws: Workspace, tmp_path: Path) -> None:
    import pyotp
    from fastapi.testclient import TestClient

    from bastion.api import create_app

    setup(ws)
    _register(ws, tmp_path, tier=4)
    eng = create_token(ws, name="dana", role="engineer")
    ap = create_token(ws, name="lee", role="approver")
    assert ap.totp_secret is not None
    body = {"alias": "champion", "version": "1"}
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        url = "/api/v1/models/credit-gbm/aliases"
        r = c.put(url, json=body, headers={"Authorization": f"Bearer {eng.token}"})
        assert r.status_code == 403 and "passed no gate" in r.json()["detail"]
        r = c.put(url, json=body, headers={"Authorization": f"Bearer {ap.token}"})
        assert r.status_code == 403
        otp = pyotp.TOTP(ap.totp_secret).now()
        r = c.put(
            url, json=body, headers={"Authorization": f"Bearer {ap.token}", "X-Bastion-OTP": otp}
        )
        assert r.status_code == 200 and r.json()["aliases"] == ["champion"]
    assert (
        json.loads(json.dumps(get_version(ws, "credit-gbm", "champion").to_dict()))["version"]
        == "1"
    )
