"""Outputs (SARIF, diagrams, Navigator, report, questionnaire) through the CLI and the API."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from tests._cli import Run, start
from tests.conftest import EXAMPLE_MANIFEST
from tests.threats.test_model import EXPECTED

QUESTIONNAIRE = EXAMPLE_MANIFEST.parent / "llm-vendor-questionnaire.yaml"
EX = str(EXAMPLE_MANIFEST)


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_model_table_json_and_sarif(run: Run) -> None:
    rc, out, _ = run("threats", "model", EX)
    assert rc == 0 and "AI-MODEL-FILE" in out and "per_element" not in out
    rc, out, _ = run("threats", "model", EX, "--format", "json")
    doc = json.loads(out)
    assert rc == 0 and doc["summary"]["findings"] == len(EXPECTED)
    rc, out, _ = run("threats", "model", EX, "--format", "sarif")
    _check_sarif(json.loads(out))


def _check_sarif(log: dict) -> None:  # type: ignore[type-arg]
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run_ = log["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] and driver["rules"]
    rule_ids = [r["id"] for r in driver["rules"]]
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"] and r["defaultConfiguration"]["level"] in (
            "error",
            "warning",
            "note",
        )
        assert "security-severity" in r["properties"]
    assert len(run_["results"]) == len(EXPECTED)
    lines = EXAMPLE_MANIFEST.read_text().splitlines()
    for res in run_["results"]:
        assert res["ruleId"] == rule_ids[res["ruleIndex"]]
        assert res["level"] in ("error", "warning", "note", "none") and res["message"]["text"]
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"].endswith("system.yaml")
        element = res["locations"][0]["logicalLocations"][0]["name"]
        assert f"id: {element}" in lines[phys["region"]["startLine"] - 1]
        assert res["kind"] in ("pass", "fail")
        assert (res["kind"] == "pass") == (res["level"] == "none")


def test_model_record_lands_in_ledger(run: Run) -> None:
    rc, out, _ = run("threats", "model", EX, "--record", "--format", "json")
    assert rc == 0
    ev_id = json.loads(out)["evidence_id"]
    rc, out, _ = run("evidence", "show", ev_id, "--format", "json")
    assert rc == 0 and json.loads(out)["check_id"] == "threats.model"
    assert run("ledger", "verify")[0] == 0


def test_check_gate_exit_codes(run: Run, tmp_path: Path) -> None:
    rc, out, _ = run("threats", "check", EX, "--fail-on", "high")
    assert rc == 1 and "FAIL" in out
    # accept every open high/critical threat: the gate passes at high, still fails at medium
    open_hi = [
        (r, e) for r, e, s in EXPECTED
        if s == "open" and r in {"AI-MODEL-FILE", "AI-BACKDOOR", "AI-EVASION", "AI-EXTRACTION",
                                 "AI-INVERSION", "AI-MEMBERSHIP", "AI-POISONING", "STRIDE-MODEL-T",
                                 "AI-PROMPT-INJECTION-INDIRECT", "STRIDE-PIPE-T"}
    ]  # fmt: skip
    body = "".join(
        f"  - {{rule: {r}, element: {e}, justification: Accepted for the pilot phase, "
        f"owner: ciso@bank.example, expires: 2999-01-01}}\n"
        for r, e in open_hi
    )
    p = tmp_path / "acc.yaml"
    p.write_text("apiVersion: bastion/v1\nkind: ThreatSuppressions\nsuppressions:\n" + body)
    rc, out, _ = run("threats", "check", EX, "--fail-on", "high", "-s", str(p), "--format", "json")
    assert rc == 0 and json.loads(out)["passed"] is True
    assert run("threats", "check", EX, "--fail-on", "medium", "-s", str(p))[0] == 1
    rc, _, _ = run("threats", "check", EX, "--fail-on", "bogus")
    assert rc == 2


def test_bad_input_is_one_clear_line(run: Run, tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "apiVersion: bastion/v1\nkind: ThreatSuppressions\nsuppressions:\n"
        "  - {rule: AI-EVASION, element: ghost, justification: long enough text, "
        "owner: me@x.y, expires: 2999-01-01}\n"
    )
    rc, _, err = run("threats", "model", EX, "-s", str(p))
    assert rc == 2 and "unknown element 'ghost'" in err and "Traceback" not in err
    rc, _, err = run("threats", "model", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "Traceback" not in err


def test_diagrams(run: Run, tmp_path: Path) -> None:
    rc, dot, _ = run("threats", "diagram", EX, "--format", "dot")
    assert rc == 0 and dot.startswith("digraph") and 'subgraph "cluster_training-enclave"' in dot
    assert "open threat(s)" in dot
    rc, mer, _ = run("threats", "diagram", EX, "--format", "mermaid")
    assert rc == 0 and mer.startswith("flowchart LR") and "subgraph n_b_scoring_service" in mer
    out = tmp_path / "d.svg"
    rc, _, _ = run("threats", "diagram", EX, "--format", "svg", "-o", str(out))
    root = ET.fromstring(out.read_text())
    assert rc == 0 and root.tag.endswith("svg")
    text = out.read_text()
    assert "Scoring service process (process)" in text and "Credit scoring API" in text


def test_report_html_and_markdown(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert run("threats", "report", EX, "-o", str(out))[0] == 0
    html = out.read_text()
    assert "<svg" in html and "<script" not in html.lower()
    for title in ("Model inversion", "Membership inference", "Training-data extraction"):
        assert title in html
    rc, md, _ = run("threats", "report", EX, "--format", "markdown")
    assert rc == 0 and "```mermaid" in md and "**Preconditions:**" in md and "**Impact:**" in md
    assert "AI-MEMBERSHIP" in md


def test_navigator_layer(run: Run) -> None:
    rc, out, _ = run("threats", "navigator", EX)
    layer = json.loads(out)
    assert rc == 0 and layer["domain"] == "atlas-atlas" and layer["versions"]["layer"]
    scores = {t["techniqueID"]: t["score"] for t in layer["techniques"]}
    assert scores["AML.T0010.003"] == 5  # 2 model files, 2 swaps, 1 third-party model
    assert all("tactic" in t for t in layer["techniques"])


def test_diff_and_rules_commands(run: Run, tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(EXAMPLE_MANIFEST.read_text().replace("format: pickle", "format: onnx"))
    rc, out, _ = run("threats", "diff", EX, str(new), "--format", "json")
    d = json.loads(out)
    assert rc == 0 and [f["id"] for f in d["removed"]] == ["AI-MODEL-FILE:credit-gbm"]
    assert run("threats", "diff", EX, str(new), "--fail-on", "low")[0] == 0
    assert run("threats", "diff", str(new), EX, "--fail-on", "critical")[0] == 1
    rc, out, _ = run("threats", "rules", "--format", "json")
    cat = json.loads(out)
    assert rc == 0 and len(cat) >= 29 and all(r["remediation"] for r in cat)
    assert run("threats", "rules")[0] == 0


def test_questionnaire(run: Run, tmp_path: Path) -> None:
    rc, out, _ = run("threats", "questionnaire", str(QUESTIONNAIRE), "--asset", "llm-api",
                     "--manifest", EX, "--format", "json")  # fmt: skip
    res = json.loads(out)
    assert rc == 0 and res["asset"] == "llm-api" and 0 <= res["score"] <= 100
    by = {f["rule_id"]: f for f in res["findings"]}
    assert by["TP-PROVENANCE"]["status"] == "open"  # gpt-4o with no pinned version
    assert by["TP-TRAINING"]["status"] == "mitigated" and by["TP-REGION"]["status"] == "mitigated"
    assert all(f["element_id"] == "llm-api" for f in res["findings"])
    bad = tmp_path / "q.yaml"
    bad.write_text(QUESTIONNAIRE.read_text().replace("region:\n    processing: [SE]", "region:\n    processing: [CN]")
                   .replace("training_on_customer_data: false", "training_on_customer_data: null"))  # fmt: skip
    rc, out, _ = run("threats", "questionnaire", str(bad), "--asset", "llm-api", "-m", EX,
                     "--format", "json", "--fail-on", "high")  # fmt: skip
    by = {f["rule_id"]: f for f in json.loads(out)["findings"]}
    assert rc == 1 and by["TP-REGION"]["status"] == "open" and by["TP-TRAINING"]["status"] == "open"
    rc, _, err = run(
        "threats", "questionnaire", str(QUESTIONNAIRE), "--asset", "scoring-api", "-m", EX
    )
    assert rc == 2 and "inference_endpoint" in err


# -- API ---------------------------------------------------------------------------------


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def _h(ws: Workspace, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=f't-{role}', role=role).token}"}


def test_api_routes(client: TestClient, ws: Workspace) -> None:
    viewer, engineer = _h(ws, Role.VIEWER), _h(ws, Role.ENGINEER)
    body = EXAMPLE_MANIFEST.read_bytes()
    assert client.post("/api/v1/threats/model", content=body).status_code == 401
    r = client.post("/api/v1/threats/model", content=body, headers=engineer)
    assert r.status_code == 200 and r.json()["summary"]["findings"] == len(EXPECTED)
    r = client.post("/api/v1/threats/model", content=b"kind: System\n", headers=engineer)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    big = b"#" * (ws.settings.max_manifest_bytes + 1)
    assert client.post("/api/v1/threats/model", content=big, headers=engineer).status_code == 413
    r = client.get("/api/v1/threats/rules", headers=viewer)
    assert r.status_code == 200 and {x["id"] for x in r.json()} >= {"AI-EVASION", "STRIDE-FLOW-TI"}
    assert client.get("/api/v1/systems/credit-scoring/threats", headers=viewer).status_code == 404
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="t", actor="t")
    r = client.get("/api/v1/systems/credit-scoring/threats", headers=viewer)
    assert r.status_code == 200 and r.json()["source"].startswith("inventory:credit-scoring@v1")
    ids = {(f["rule_id"], f["element_id"], f["status"]) for f in r.json()["findings"]}
    assert ids == EXPECTED
    for fmt, ctype, head in (("svg", "image/svg+xml", "<?xml"), ("dot", "text/vnd.graphviz", "digraph"),
                             ("mermaid", "text/plain", "flowchart")):  # fmt: skip
        r = client.get(
            f"/api/v1/systems/credit-scoring/threats/diagram?format={fmt}", headers=viewer
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert r.text.startswith(head)
    r = client.get("/api/v1/systems/credit-scoring/threats/diagram?format=png", headers=viewer)
    assert r.status_code == 422
