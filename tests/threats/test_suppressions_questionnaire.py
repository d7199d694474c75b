"""Suppressions that reach the API and the console, questionnaire findings in the threat
model, `threats check --record`, and `threats diff` with suppressions on both versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from bastion.threats import (
    Status,
    load_questionnaire,
    model_file,
    record_model,
    score_questionnaire,
    system_threats,
    to_sarif,
)
from tests.conftest import EXAMPLE_MANIFEST
from tests.threats.test_outputs_cli_api import Run

QUESTIONNAIRE = EXAMPLE_MANIFEST.parent / "llm-vendor-questionnaire.yaml"
EX = str(EXAMPLE_MANIFEST)
TODAY = date(2025, 7, 1)
ACCEPT = """apiVersion: bastion/v1
kind: ThreatSuppressions
suppressions:
  - rule: AI-MODEL-FILE
    element: credit-mlp
    justification: Challenger only runs in shadow mode inside the scoring process.
    owner: credit-model-dev@bank.example
    expires: 2999-12-31
  - rule: AI-EVASION
    element: credit-gbm
    justification: Accepted while the robustness room is being built.
    owner: ciso@bank.example
    expires: 2025-01-31
"""


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = Run(tmp_path / "home", capsys)
    assert r("init")[0] == 0
    return r


def _accept(tmp_path: Path, body: str = ACCEPT) -> Path:
    p = tmp_path / "accepted.yaml"
    p.write_text(body)
    return p


# -- suppressions reach the API and the console ---------------------------------------------


def _h(ws: Workspace, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=f's-{role}', role=role).token}"}


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws), base_url="http://testserver") as c:
        yield c


def test_recorded_suppressions_show_in_api_and_console(
    ws: Workspace, client: TestClient, tmp_path: Path
) -> None:
    manifest = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, manifest, source="t", actor="t")
    viewer = _h(ws, Role.VIEWER)
    url = "/api/v1/systems/credit-scoring/threats"
    # Nothing recorded yet: no suppressions, the threat is open.
    assert client.get(url + "/suppressions", headers=viewer).json()["suppressions"] == []
    model = model_file(EXAMPLE_MANIFEST, suppressions=_accept(tmp_path), workspace=ws)
    ev = record_model(ws, model, manifest, actor="t")
    assert [s["rule"] for s in ev.data["suppressions"]] == ["AI-MODEL-FILE", "AI-EVASION"]
    # The stored system's model applies them: one suppressed, one expired (open again).
    stored = system_threats(ws, "credit-scoring")
    by_id = {f.id: f for f in stored.findings}
    mlp, gbm = by_id["AI-MODEL-FILE:credit-mlp"], by_id["AI-EVASION:credit-gbm"]
    assert mlp.status is Status.SUPPRESSED and mlp.suppression is not None
    assert mlp.suppression["owner"] == "credit-model-dev@bank.example"
    assert gbm.status is Status.OPEN and gbm.suppression and gbm.suppression["expired"]
    assert any(ev.id in n for n in stored.notes)
    # Re-running the check from the inventory keeps the acceptances of the latest run.
    from bastion.core.checks import run_check
    from bastion.core.types import Subject

    again = run_check(ws, "threats.model", Subject("system", "credit-scoring"), actor="t")
    assert [s["rule"] for s in again.data["suppressions"]] == ["AI-MODEL-FILE", "AI-EVASION"]
    # API: the model JSON and the suppressions route.
    d = client.get(url, headers=viewer).json()
    f = next(x for x in d["findings"] if x["id"] == "AI-MODEL-FILE:credit-mlp")
    assert f["status"] == "suppressed" and f["suppression"]["expires"] == "2999-12-31"
    r = client.get(url + "/suppressions", headers=viewer)
    assert r.status_code == 200
    rows = {(s["rule"], s["element"]): s for s in r.json()["suppressions"]}
    assert rows["AI-MODEL-FILE", "credit-mlp"] == {
        "rule": "AI-MODEL-FILE",
        "element": "credit-mlp",
        "justification": "Challenger only runs in shadow mode inside the scoring process.",
        "owner": "credit-model-dev@bank.example",
        "expires": "2999-12-31",
        "expired": False,
        "finding": "AI-MODEL-FILE:credit-mlp",
        "finding_status": "suppressed",
        "severity": "critical",
    }
    assert rows["AI-EVASION", "credit-gbm"]["expired"] is True
    assert rows["AI-EVASION", "credit-gbm"]["finding_status"] == "open"
    assert client.get(url + "/suppressions").status_code == 401
    assert (
        client.get("/api/v1/systems/nope/threats/suppressions", headers=viewer).status_code == 404
    )
    # Console: the accepted threats card, with owner, expiry and the finding's status.
    token = create_token(ws, name="console-viewer", role=Role.VIEWER).token
    login = client.post(
        "/ui/login",
        data={"token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text
    page = client.get("/ui/systems/credit-scoring/threats").text
    card = page[page.index('data-testid="suppressions"') :]
    row = card[card.index('data-suppression="AI-MODEL-FILE:credit-mlp"') :]
    row = row[: row.index("</tr>")]
    assert "credit-model-dev@bank.example" in row and "2999-12-31" in row and "suppressed" in row
    expired = card[card.index('data-suppression="AI-EVASION:credit-gbm"') :]
    assert "expired" in expired[: expired.index("</tr>")]


# -- questionnaire findings in the model ------------------------------------------------------


def _pinned(tmp_path: Path) -> Path:
    p = tmp_path / "pinned.yaml"
    p.write_text(
        QUESTIONNAIRE.read_text()
        .replace("version: null", 'version: "2024-08-06"')
        .replace("version_pinned: false", "version_pinned: true")
    )
    return p


def test_questionnaire_findings_join_model_sarif_and_gate(tmp_path: Path) -> None:
    plain = model_file(EXAMPLE_MANIFEST, today=TODAY)
    m = model_file(EXAMPLE_MANIFEST, questionnaires=[(None, QUESTIONNAIRE)], today=TODAY)
    tp = {f.id: f for f in m.findings if f.rule.id.startswith("TP-")}
    assert set(tp) == {
        f"TP-{k}:llm-api"
        for k in ("RETENTION", "TRAINING", "REGION", "CERTIFICATIONS", "INCIDENTS", "PROVENANCE")
    }
    assert tp["TP-PROVENANCE:llm-api"].open and tp["TP-REGION:llm-api"].mitigated
    assert len(m.findings) == len(plain.findings) + 6
    assert m.questionnaires[0]["asset"] == "llm-api" and m.questionnaires[0]["verdict"] == "warn"
    # The questionnaire is the threats.questionnaire evidence for its asset: a warn
    # (provenance unpinned) does not mitigate AI-THIRD-PARTY-MODEL; a pass does.
    third = next(f for f in m.findings if f.id == "AI-THIRD-PARTY-MODEL:llm-api")
    assert third.open and "threats.questionnaire for llm-api: warn" in third.mitigation
    ok = model_file(EXAMPLE_MANIFEST, questionnaires=[("llm-api", _pinned(tmp_path))])
    third = next(f for f in ok.findings if f.id == "AI-THIRD-PARTY-MODEL:llm-api")
    assert third.status is Status.MITIGATED and ok.questionnaires[0]["verdict"] == "pass"
    # SARIF: the TP rules are in the driver and every result points at one.
    sarif = to_sarif(m)["runs"][0]
    ids = [r["id"] for r in sarif["tool"]["driver"]["rules"]]
    assert "TP-PROVENANCE" in ids
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in sarif["results"])
    # A TP finding can be suppressed like any other.
    acc = _accept(
        tmp_path,
        "apiVersion: bastion/v1\nkind: ThreatSuppressions\nsuppressions:\n"
        "  - {rule: TP-PROVENANCE, element: llm-api, justification: Vendor pins by contract, "
        "owner: vendor-mgmt@bank.example, expires: 2999-01-01}\n",
    )
    s = model_file(EXAMPLE_MANIFEST, suppressions=acc, questionnaires=[(None, QUESTIONNAIRE)])
    assert next(f for f in s.findings if f.id == "TP-PROVENANCE:llm-api").suppressed


def test_questionnaire_region_is_never_silently_skipped(tmp_path: Path) -> None:
    q = load_questionnaire(QUESTIONNAIRE)
    res = score_questionnaire(q, "llm-api", None, today=TODAY)
    assert "TP-REGION" not in {f.rule.id for f in res.findings}
    assert res.notes and "TP-REGION not evaluated for llm-api" in res.notes[0]
    assert "no manifest was given" in res.notes[0]
    data = EXAMPLE_MANIFEST.read_text().replace("jurisdictions: [EU, DE, US]", "jurisdictions: []")
    bare = tmp_path / "bare.yaml"
    bare.write_text(data)
    m = model_file(bare, questionnaires=[(None, QUESTIONNAIRE)])
    assert any("declares no jurisdictions" in n for n in m.notes)
    with_m = score_questionnaire(q, "llm-api", load_manifest(EXAMPLE_MANIFEST), today=TODAY)
    assert with_m.notes == () and "TP-REGION" in {f.rule.id for f in with_m.findings}


def test_cli_questionnaire_record_then_stored_model_uses_the_evidence(
    run: Run, tmp_path: Path
) -> None:
    pinned = _pinned(tmp_path)
    rc, out, err = run(
        "threats", "model", EX, "--questionnaire", f"llm-api={pinned}", "--record", "-f", "json"
    )
    assert rc == 0, err
    d = json.loads(out)
    assert {f["id"] for f in d["findings"]} >= {"TP-PROVENANCE:llm-api"}
    assert d["questionnaires"][0]["file"] == str(pinned)
    rc, out, _ = run("evidence", "list", "--check", "threats.questionnaire", "--format", "json")
    (ev,) = json.loads(out)
    assert ev["subject"]["ref"] == "credit-scoring/llm-api" and ev["verdict"] == "pass"
    # A later model with the workspace finds the recorded evidence.
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace

    ws = open_workspace(get_settings(home=run.home))
    try:
        later = model_file(EXAMPLE_MANIFEST, workspace=ws)
        third = next(f for f in later.findings if f.id == "AI-THIRD-PARTY-MODEL:llm-api")
        assert (
            third.mitigated and "latest evidence of check threats.questionnaire" in third.mitigation
        )
        got = ws.evidence.list(EvidenceQuery(check_id="threats.model", limit=5))
        assert got and got[0].verdict is Verdict.FAIL
    finally:
        ws.close()
    # A questionnaire that names no asset, given without one: file, problem and fix.
    anon = tmp_path / "anon.yaml"
    anon.write_text(QUESTIONNAIRE.read_text().replace("asset: llm-api\n", ""))
    rc, _, err = run("threats", "check", EX, "--questionnaire", str(anon))
    assert rc == 2 and f"{anon}: the questionnaire names no asset" in err and "fix:" in err
    rc, _, err = run("threats", "check", EX, "-q", f"scoring-api={QUESTIONNAIRE}")
    assert rc == 2 and "inference_endpoint" in err


def test_check_record_lands_in_ledger(run: Run) -> None:
    rc, out, _ = run("threats", "check", EX, "--fail-on", "critical", "--record", "-f", "json")
    d = json.loads(out)
    assert rc == 1 and d["passed"] is False and d["evidence_id"]
    rc, out, _ = run("evidence", "show", d["evidence_id"], "--format", "json")
    ev = json.loads(out)
    assert ev["check_id"] == "threats.model" and ev["verdict"] == "fail"
    assert ev["data"]["fail_on"] == "critical"
    rc, out, _ = run("threats", "check", EX, "--fail-on", "critical", "--record")
    assert rc == 1 and "recorded as evidence" in out
    assert run("ledger", "verify")[0] == 0


def test_diff_applies_suppressions_to_both_versions(run: Run, tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(EXAMPLE_MANIFEST.read_text().replace("format: pickle", "format: onnx"))
    acc = _accept(tmp_path)
    rc, out, _ = run("threats", "diff", EX, str(new), "-s", str(acc), "-f", "json")
    d = json.loads(out)
    # The accepted threat persists in both versions: unchanged, not "changed to suppressed".
    assert rc == 0 and [c["id"] for c in d["changed"]] == []
    assert [f["id"] for f in d["removed"]] == ["AI-MODEL-FILE:credit-gbm"]
    # Before: suppressions applied to NEW only made every accepted threat a change.
    (tmp_path / "old").mkdir()
    none = _accept(tmp_path / "old", "apiVersion: bastion/v1\nkind: ThreatSuppressions\n")
    rc, out, _ = run(
        "threats", "diff", EX, str(new), "-s", str(acc), "--old-suppressions",
        str(none),
        "-f", "json",
    )  # fmt: skip
    assert [c["id"] for c in json.loads(out)["changed"]] == ["AI-MODEL-FILE:credit-mlp"]
    # A suppression for an element only the new version has does not break the old side.
    grown = tmp_path / "grown.yaml"
    grown.write_text(
        EXAMPLE_MANIFEST.read_text().replace(
            "  - id: credit-mlp\n", "  - id: credit-xgb\n    kind: model\n    name: XGB\n"
            "    owner: credit-model-dev@bank.example\n    classification: confidential\n"
            "  - id: credit-mlp\n", 1,
        )
    )  # fmt: skip
    only_new = _accept(
        tmp_path,
        ACCEPT + "  - {rule: AI-MODEL-FILE, element: credit-xgb, justification: Not loaded yet "
        "anywhere, owner: ciso@bank.example, expires: 2999-01-01}\n",
    )
    rc, out, err = run("threats", "diff", EX, str(grown), "-s", str(only_new))
    assert rc == 0, err
    assert "skipped: no element 'credit-xgb'" in err


def test_api_model_with_questionnaire(ws: Workspace, client: TestClient) -> None:
    eng = _h(ws, Role.ENGINEER)
    body = {
        "manifest": EXAMPLE_MANIFEST.read_text(),
        "questionnaires": [{"questionnaire": QUESTIONNAIRE.read_text()}],
    }
    r = client.post("/api/v1/threats/model", json=body, headers=eng)
    assert r.status_code == 200, r.text
    d = r.json()
    assert "TP-PROVENANCE:llm-api" in {f["id"] for f in d["findings"]}
    assert d["questionnaires"][0]["file"] == "questionnaires[0]"
    bad = {"manifest": body["manifest"], "questionnaires": [{"questionnaire": "kind: Nope\n"}]}
    r = client.post("/api/v1/threats/model", json=bad, headers=eng)
    assert r.status_code == 422 and "request body: questionnaires[0]" in r.json()["detail"]
    r = client.post("/api/v1/threats/model", json={"questionnaires": []}, headers=eng)
    assert r.status_code == 422 and "fix:" in r.json()["detail"]
    viewer = _h(ws, Role.VIEWER)
    assert client.post("/api/v1/threats/model", json=body, headers=viewer).status_code == 403
