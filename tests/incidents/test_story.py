"""Issue 12's story, rooms joined: traffic with injected drift from a new client and an
extraction campaign (the guard's findings, in the form its audit writer emits them) ->
the monitor's detections and Sigma matches -> an incident -> the model-compromise playbook
(the model rolled back to its last verified version, the suspect version quarantined, the
attacker's token revoked, the log frozen) -> a custody report verified offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bastion.access import authenticate, create_token
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace
from bastion.incidents import (
    custody_report,
    get_incident,
    get_playbook,
    is_quarantined,
    open_from_detection,
    run_playbook,
    verify_report,
)
from bastion.monitor import (
    Actor,
    AlertPolicy,
    ApiActivity,
    DetectionFinding,
    Inference,
    InputPolicy,
    ModelRef,
    ReferenceProfile,
    Severity,
    StreamingDrift,
    alert_finding,
)
from bastion.monitor.correlate import correlate
from bastion.monitor.interface import InputMode
from bastion.monitor.sigma import convert
from bastion.registry import get_version, promote
from tests.incidents.test_incidents import _clear, _register
from tests.monitor.test_detections import T0
from tests.registry._helpers import approver, setup

MODEL = ModelRef("credit-gbm", "2")
RAW = InputPolicy(InputMode.RAW)


def _traffic(rng: np.random.Generator) -> list[dict[str, Any]]:
    ref = {"income": rng.normal(50, 10, 5000), "age": rng.normal(40, 12, 5000)}
    stream = StreamingDrift(ReferenceProfile.build(ref), window_size=200,
                            alerts=AlertPolicy(raise_after=2))  # fmt: skip
    events: list[dict[str, Any]] = []
    t = T0
    # an hour of the bank's own app (the baseline), then a new client whose inputs shift
    for i in range(1200):
        new = i >= 600
        who, ip = ("scraper", "203.0.113.7") if new and i % 2 else ("app", "10.0.0.1")
        row = {"income": float(rng.normal(80 if new and i % 2 else 50, 10)),
               "age": float(rng.normal(40, 12))}  # fmt: skip
        t += 6000 if i < 600 else 500
        events.append(ApiActivity(Actor(who, client_ip=ip), operation="predict", policy=RAW,
                                  inference=Inference(MODEL, row), time_ms=t).to_ocsf())  # fmt: skip
        rep = stream.update(row)
        alerts = rep.alerts if rep else ()
        events.extend(alert_finding(a, model=MODEL, time_ms=t).to_ocsf() for a in alerts)
    # the guard's extraction stage (PRADA) flags the scraper's queries
    events.extend(
        DetectionFinding(
            title="guard prada: block", finding_uid=f"req-{k}:prada", severity=Severity.HIGH,
            techniques=("AML.T0024.002",), analytic="prada",
            actor=Actor("scraper", client_ip="203.0.113.7"), model=MODEL,
            evidence={"verdict": "block", "score": 0.93}, time_ms=t + 1000 * (k + 1),
        ).to_ocsf()
        for k in range(3)
    )  # fmt: skip
    return events


def test_drift_and_extraction_to_rollback_revocation_and_custody(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    for content in (b"weights-v1", b"retrained"):
        v = _register(ws, tmp_path, content)
        _clear(ws, v, sec, voters)
        assert promote(ws, "credit-gbm", v.version, "production", actor="dana").promoted
    attacker = create_token(ws, name="scraper", role="viewer", actor="admin")

    events = _traffic(np.random.default_rng(7))
    log = tmp_path / "gateway.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))

    found = correlate(ws, events, actor="monitor", source=log.name)
    kinds = {d.kind.value for d in found.detections}
    assert {"drift_new_client", "extraction"} <= kinds, kinds
    drift = next(d for d in found.detections if d.kind.value == "drift_new_client")
    assert drift.details["new_clients"] == ["203.0.113.7"]
    sigma = {m.title for m in found.sigma}
    assert "AI model extraction reported by the gateway" in sigma
    assert "Data or prediction drift raised on a model" in sigma

    extraction = next(d for d in found.detections if d.kind.value == "extraction")
    inc = open_from_detection(
        ws, extraction.to_ocsf(), owner="sam", actor="monitor",
        params={"version": "2", "token_id": attacker.info.id, "event_log": str(log)},
    )  # fmt: skip
    assert inc.severity == "critical" and inc.params["model"] == "credit-gbm"
    run = run_playbook(ws, inc.id, get_playbook("model-compromise"), actor="sam")
    assert run.ok, run.to_dict()
    assert get_version(ws, "credit-gbm", "1").stage.value == "production"
    assert is_quarantined(ws, "credit-gbm", "2")
    try:
        authenticate(ws, attacker.token)
        raise AssertionError("the attacker's token still works")
    except AuthError:
        pass

    report = json.loads(json.dumps(custody_report(ws, incident_id=inc.id)))
    check = verify_report(report, artifacts={
        a["artifact"]["id"]: log.read_bytes() for a in report["artifacts"]})  # fmt: skip
    assert check.ok, check.problems
    assert get_incident(ws, inc.id).status.value == "contained"
    assert any("extraction" in q for q in convert("splunk"))
    assert ws.ledger.verify().ok
