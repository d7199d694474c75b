"""``bastion incident`` and ``bastion custody`` end to end: a detection from ``monitor
detect`` opens an incident, its playbook revokes the attacker's real token and freezes
the log, the custody report verifies offline, and a tampered copy does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._cli import Run, start
from tests.monitor.test_detections import T0, call
from tests.registry._helpers import GOVERNANCE


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = start(tmp_path, capsys)
    code, out, err = r("governance", "apply", str(GOVERNANCE), "--actor", "test")
    assert code == 0, out + err  # the escalation matrix the playbooks take owners from
    return r


def test_detection_to_incident_to_custody(run: Run, tmp_path: Path) -> None:
    tok = run.json("token", "create", "--name", "mallory", "--role", "engineer")
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps(call("mallory", T0 + i * 100, ok=False))
                             for i in range(5)) + "\n")  # fmt: skip
    rc, out, _ = run("monitor", "detect", str(log), "--no-sigma", "--format", "json")
    assert rc == 1
    (det,) = json.loads(out)["detections"]
    det_file = tmp_path / "det.json"
    det_file.write_text(json.dumps(det))
    inc = run.json("incident", "open", "x", "--owner", "sam", "--from-detection", str(det_file),
                   "--param", f"token_id={tok['id']}", "--actor", "sam")  # fmt: skip
    assert inc["kind"] == "denial_burst" and inc["params"]["principal"] == "mallory"
    rows = run.json("incident", "list", "--status", "open")
    assert [r["id"] for r in rows] == [inc["id"]]
    res = run.json("incident", "run-playbook", inc["id"], "--actor", "sam")
    assert res["playbook"] == "denial-burst" and res["ok"]
    tokens = run.json("token", "list")
    assert next(t for t in tokens if t["id"] == tok["id"])["revoked"] is True
    chart = tmp_path / "incident.svg"
    shown = run.json("incident", "show", inc["id"], "--svg", str(chart))
    assert "contain (security-team)" in chart.read_text()
    assert shown["status"] == "contained"
    assert [s["status"] for s in shown["steps"]] == ["done", "pending"]
    run.json("incident", "complete-step", inc["id"], "confirm", "--note", "stolen laptop")
    # freeze the log, hand it over, report, verify offline
    art = run.json("custody", "collect", str(log), "--incident", inc["id"], "--actor", "sam")
    run.json("custody", "transfer", art["id"], "--to", "forensics", "--note", "sealed")
    copy = tmp_path / "copy.jsonl"
    rc, _, _ = run("custody", "access", art["id"], "--purpose", "review", "--out", str(copy))
    assert rc == 0 and copy.read_bytes() == log.read_bytes()
    report = tmp_path / "custody.json"
    rc, _, _ = run("custody", "report", "--incident", inc["id"], "--out", str(report))
    assert rc == 0
    ok = run.json("custody", "verify", str(report), "--file", str(log))
    assert ok["ok"] and ok["statements"] == 3
    rc, out, err = run("custody", "verify", str(report))
    assert rc == 1 and "bytes were not given" in err
    copy.write_bytes(log.read_bytes() + b"\n")
    rc, _, err = run("custody", "verify", str(report), "--file", str(copy))
    assert rc == 1 and "not given" in err  # a changed copy matches no digest
    tampered = json.loads(report.read_text())
    tampered["artifacts"][0]["chain"][1]["statement"]["to"] = "elsewhere"
    report.write_text(json.dumps(tampered))
    rc, _, err = run("custody", "verify", str(report), "--file", str(log))
    assert rc == 1 and "signature does not verify" in err
    assert run.json("custody", "verify", "--incident", inc["id"])["ok"]
    done = run.json("incident", "close", inc["id"], "--resolution", "token revoked")
    assert done["status"] == "closed"
    rc, _, _ = run("ledger", "verify")
    assert rc == 0


def test_incident_cli_bad_input(run: Run, tmp_path: Path) -> None:
    rc, _, err = run("incident", "open", "t", "--owner", "o", "--severity", "urgent")
    assert rc == 2 and "severity must be one of" in err
    rc, _, err = run("incident", "open", "t", "--owner", "o", "--param", "novalue")
    assert rc == 2 and "NAME=VALUE" in err
    inc = run.json("incident", "open", "t", "--owner", "o", "--kind", "manual")
    bad = tmp_path / "pb.yaml"
    bad.write_text("id: x\ntitle: t\ntriggers: [manual]\nsteps:\n  - id: a\n    title: a\n"
                   "    owner: o\n    actions:\n      - action: format_disk\n")  # fmt: skip
    rc, _, err = run("incident", "run-playbook", inc["id"], str(bad))
    assert rc == 2 and "unknown action 'format_disk'" in err
    rc, _, err = run("incident", "run-playbook", inc["id"])
    assert rc == 2 and "name one" in err
    rc, _, err = run("incident", "show", "nope")
    assert rc == 2 and "no incident" in err
    books = run.json("incident", "playbooks")
    assert {"model-compromise", "decision-failure"} <= {b["id"] for b in books}
    rc, _, err = run("custody", "verify", str(bad))
    assert rc == 2 and "not valid JSON" in err
