"""Issue 13 section 2: controls between evidence and gates (the compliance room)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from bastion.access import Role, authenticate, create_token
from bastion.api import create_app
from bastion.cli.main import main
from bastion.compliance import (
    AttestationCheck,
    Control,
    ControlSubject,
    Coverage,
    attest,
    evaluate_control,
    get_control,
    list_controls,
    resolve_subject,
)
from bastion.core.errors import InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.registry import (
    evaluate_gate,
    load_policy,
    parse_policy,
    promote,
    register_model,
    set_policy,
)
from tests.registry._helpers import POLICY, good_evidence, model_dir, setup

SRC = Path(__file__).resolve().parents[2] / "src" / "bastion"


def _register(ws: Workspace, tmp_path: Path, content: bytes = b"weights-v1"):  # type: ignore[no-untyped-def]
    return register_model(
        ws,
        "credit-gbm",
        model_dir(tmp_path, content),
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
    )


def _subject(ws: Workspace, version: str = "1") -> ControlSubject:
    return resolve_subject(ws, f"model:credit-gbm@{version}")


def test_finding_02_internal_catalog_holds_the_default_policy_controls() -> None:
    ids = {c.id for c in list_controls()}
    assert {
        "bastion.model-signed",
        "bastion.model-scan-safe",
        "bastion.dependencies-no-critical",
        "bastion.threats-no-open-high",
        "bastion.human-oversight",
    } <= ids
    assert get_control("bastion.human-oversight").coverage is Coverage.ATTESTATION
    with pytest.raises(NotFoundError, match="no control"):
        get_control("bastion.nope")
    with pytest.raises(ValueError, match="needs a check"):
        Control(id="x.partial", coverage=Coverage.PARTIAL)


def test_finding_02_controls_fail_closed_then_hold_on_fresh_evidence(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    scan = get_control("bastion.model-scan-safe")
    res = evaluate_control(ws, scan, _subject(ws))
    assert not res.satisfied and res.reason.startswith("no integrity.scan evidence about")
    ids = good_evidence(ws, v)
    res = evaluate_control(ws, scan, _subject(ws))
    assert res.satisfied and res.evidence_ids == (ids[1],) and res.producers == ("test",)
    later = datetime.now(UTC) + timedelta(days=31)
    assert "older than 30d" in evaluate_control(ws, scan, _subject(ws), now=later).reason
    # Retrained: the evidence of version 1 is named stale for version 2.
    _register(ws, tmp_path, b"retrained")
    res = evaluate_control(ws, scan, _subject(ws, "2"))
    assert not res.satisfied and res.reason.startswith("stale: integrity.scan evidence")
    # A system-scope control on the system subject.
    threats = get_control("bastion.threats-no-open-high")
    assert evaluate_control(ws, threats, resolve_subject(ws, "system:credit-scoring")).satisfied
    # A model-scope control on a system subject is unmet, not an error.
    res = evaluate_control(ws, scan, resolve_subject(ws, "system:credit-scoring"))
    assert not res.satisfied and "is a system" in res.reason


def test_finding_02_attestation_controls_need_a_fresh_dated_attestation(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    _register(ws, tmp_path)
    oversight = get_control("bastion.human-oversight")
    subject = _subject(ws)
    res = evaluate_control(ws, oversight, subject)
    assert not res.satisfied and "no fresh attestation of bastion.human-oversight" in res.reason
    assert "bastion control attest bastion.human-oversight" in (res.remedy or "")
    # A fully automated control refuses attestations (they would never count).
    with pytest.raises(InputError, match="fully automated"):
        attest(ws, "bastion.model-scan-safe", subject, statement="trust me", actor="cli")
    ev = attest(
        ws,
        oversight,
        subject,
        statement="Loan officers review every decline.",
        actor="cli",
        valid_for="90d",
    )
    assert AttestationCheck.read(ev).control == oversight.id and ws.evidence.verify_digest(ev)
    res = evaluate_control(ws, oversight, subject)
    assert res.satisfied and res.attestation_ids == (ev.id,) and ev.id in res.evidence_ids
    later = datetime.now(UTC) + timedelta(days=91)
    assert not evaluate_control(ws, oversight, subject, now=later).satisfied


def test_finding_02_attestations_count_only_from_allowed_attesters(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    _register(ws, tmp_path)
    eng = create_token(ws, name="eve", role=Role.ENGINEER)
    oversight = get_control("bastion.human-oversight")
    subject = _subject(ws)
    attest(
        ws, oversight, subject, statement="I say so", actor=authenticate(ws, eng.token, None).actor
    )
    res = evaluate_control(ws, oversight, subject)
    assert not res.satisfied and "engineer token" in res.reason


def test_finding_02_partial_coverage_needs_evidence_and_an_attestation(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    partial = Control(id="test.scan-and-review", check="integrity.scan", coverage=Coverage.PARTIAL)
    subject = _subject(ws)
    assert not evaluate_control(ws, partial, subject).satisfied  # no evidence
    good_evidence(ws, v)
    res = evaluate_control(ws, partial, subject)
    assert not res.satisfied and res.reason.startswith("automated part: ")
    attest(ws, partial, subject, statement="Reviewed the scan findings.", actor="cli")
    assert evaluate_control(ws, partial, subject).satisfied


def test_finding_02_gate_policies_name_controls_and_inline_evidence_still_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)  # the example policy (inline evidence only) loads unchanged
    v = _register(ws, tmp_path)
    doc = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    doc["tiers"][1]["stages"]["staging"]["controls"] = ["bastion.human-oversight"]
    policy = parse_policy(json.dumps(doc), "with-controls.yaml")
    set_policy(ws, policy, actor="test")
    good_evidence(ws, v)
    gate = evaluate_gate(ws, "credit-gbm", "1", "staging")
    by_id = {r.id: r for r in gate.requirements}
    assert next(iter(by_id)) == "control:bastion.human-oversight"
    assert by_id["control:bastion.human-oversight"].kind == "control"
    assert not by_id["control:bastion.human-oversight"].satisfied
    assert by_id["evidence:integrity.scan"].satisfied and not gate.satisfied
    ev = attest(ws, "bastion.human-oversight", _subject(ws), statement="ok", actor="cli")
    res = promote(ws, "credit-gbm", "1", "staging", actor="dana")
    assert res.promoted and res.gate is not None and ev.id in res.gate.evidence_ids
    doc["tiers"][1]["stages"]["staging"]["controls"] = ["bastion.unknown"]
    with pytest.raises(InputError, match=r"controls\[0\]: unknown control 'bastion.unknown'"):
        parse_policy(json.dumps(doc), "bad.yaml")
    assert load_policy(POLICY).tiers[1].stages  # unchanged example still parses


def test_finding_02_freshness_logic_lives_only_in_the_compliance_room() -> None:
    gate = "".join(p.read_text(encoding="utf-8") for p in (SRC / "registry").glob("_gate*.py"))
    for name in ("_check_evidence", "_stale_evidence", "_Producers", "max_age_delta"):
        assert name not in gate, name


def test_finding_05_gate_is_split_into_parts() -> None:
    parts = {p.name: len(p.read_text().splitlines()) for p in (SRC / "registry").glob("_gate*.py")}
    assert {
        "_gate_eval.py",
        "_gate_approvals.py",
        "_gate_promotion.py",
        "_gate_rollback.py",
    } <= set(parts)
    assert max(parts.values()) < 500, parts


def _cli(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    return rc, capsys.readouterr().out


def test_finding_02_control_cli_end_to_end(
    sqlite_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = sqlite_ws
    setup(ws)
    _register(ws, tmp_path)
    home = ws.settings.home
    rc, out = _cli(home, capsys, "control", "list", "--format", "json")
    assert rc == 0 and "bastion.human-oversight" in {c["id"] for c in json.loads(out)}
    rc, out = _cli(home, capsys, "control", "show", "bastion.model-signed", "--format", "json")
    assert rc == 0 and json.loads(out)["check"] == "integrity.signature"
    args = ("--subject", "model:credit-gbm@1", "--format", "json")
    rc, out = _cli(home, capsys, "control", "evaluate", "bastion.human-oversight", *args)
    assert rc == 1 and json.loads(out)["satisfied"] is False
    rc, out = _cli(
        home,
        capsys,
        "control",
        "attest",
        "bastion.human-oversight",
        *args[:2],
        "--statement",
        "Reviewed by the credit committee.",
        "--actor",
        "carol",
        "--format",
        "json",
    )
    assert rc == 0 and json.loads(out)["check_id"] == "compliance.attestation"
    rc, out = _cli(home, capsys, "control", "evaluate", "bastion.human-oversight", *args)
    body = json.loads(out)
    assert rc == 0 and body["satisfied"] and body["subject"]["ref"] == "credit-gbm@1"


def test_finding_02_control_api_end_to_end(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    good_evidence(ws, v)
    viewer = create_token(ws, name="vic", role=Role.VIEWER)
    h = {"Authorization": f"Bearer {viewer.token}"}
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        assert c.get("/api/v1/controls").status_code == 401
        r = c.get("/api/v1/controls", headers=h)
        assert r.status_code == 200 and any(x["id"] == "bastion.model-signed" for x in r.json())
        url = "/api/v1/controls/bastion.model-scan-safe/evaluate"
        r = c.get(url, params={"subject": "model:credit-gbm@1"}, headers=h)
        assert r.status_code == 200 and r.json()["satisfied"] is True, r.json()
        r = c.get(url, params={"subject": "model:credit-gbm@9"}, headers=h)
        assert r.status_code == 404
        r = c.get(url, params={"subject": "x" * 501}, headers=h)
        assert r.status_code == 422
        r = c.get(
            "/api/v1/controls/bastion.nope/evaluate",
            params={"subject": "system:credit-scoring"},
            headers=h,
        )
        assert r.status_code == 404
