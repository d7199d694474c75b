"""Privacy impact assessment: prefilled from the manifest and the privacy evidence,
attested answers, risk scoring, Markdown/HTML reports, privacy.pia evidence, the CLI and
the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.pia import PiaCheck, assess, questionnaire, render_html, render_markdown
from bastion.privacy.pii import record_scan
from bastion.privacy.retention import apply_retention, parse_policies, register_item
from tests._cli import start

MANIFEST = """\
apiVersion: bastion/v1
kind: System
system:
  id: loans
  name: Loan scoring
  owner: risk@bank.example
  purpose: Score loan applications.
  decision_impact: [financial]
  autonomy_level: human_in_the_loop
  data_sensitivity: confidential
  jurisdictions: [EU]
assets:
  - id: applicants
    kind: dataset
    name: Applicants
    owner: data@bank.example
    classification: confidential
    pii_categories: [name, contact, financial]
    hosting: {environment: cloud, provider: aws, region: us-east-1}
    encryption: {at_rest: true, in_transit: true}
  - id: model
    kind: model
    name: Model <b>v1</b>
    owner: ml@bank.example
    classification: confidential
flows:
  - id: train
    source: applicants
    target: model
    protocol: s3
    classification: confidential
    encryption: {in_transit: true}
"""
ANSWERS = """\
system: loans
attested_by: {name: Dana Meyer, role: DPO}
answers:
  lawful_basis: "GDPR Art. 6(1)(b): the loan contract; Art. 22(2)(a) with human review"
  dpo_consulted: yes
  transfer_mechanism: "EU SCCs (2021/914), module 2, with a transfer impact assessment"
  masking: yes
  minimization: {answer: yes, note: "minimized in the feature store"}
  differential_privacy: no
  validation: yes
  subject_rights: yes
"""


def _manifest(tmp: Path) -> Path:
    p = tmp / "system.yaml"
    p.write_text(MANIFEST)
    return p


def _evidence(ws: Workspace, tmp: Path) -> None:
    data = tmp / "applicants.csv"
    data.write_text("name,email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(30)))
    record_scan(ws, path=data, ref="applicants")
    register_item(ws, "dataset", "applicants", category="pii", path=data)
    apply_retention(ws, parse_policies(
        "policies: [{id: p, kinds: [dataset], period: 365d, legal_basis: contract}]"))  # fmt: skip


def test_prefill_from_manifest_and_evidence(ws: Workspace, tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    text = questionnaire(ws, m)
    doc = yaml.safe_load(text)
    assert doc["system"] == "loans" and doc["attested_by"] is None
    a = doc["answers"]
    assert a["pii_assets"] == ["applicants: name, contact, financial"]
    assert a["special_categories"] == "no" and a["flows_encrypted"] == "yes"
    assert a["cross_border"] == "yes"  # hosted in us-east-1, the system is EU only
    assert a["human_oversight"] == "yes" and a["lawful_basis"] is None
    assert a["pii_scan"] is None and "bastion data scan" in text  # no evidence yet: how to get it
    _evidence(ws, tmp_path)
    a = yaml.safe_load(questionnaire(ws, m))["answers"]
    assert a["pii_scan"] == "yes" and a["retention"] == "yes"


def test_assessment_scores_attests_and_records(ws: Workspace, tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    _evidence(ws, tmp_path)
    bare = assess(ws, m)
    assert bare.level == "high" and bare.verdict.value == "fail"  # no lawful basis, nobody attests
    assert "attested_by: a named person must attest the answers" in bare.open_actions
    ans = tmp_path / "answers.yaml"
    ans.write_text(ANSWERS)
    a = assess(ws, m, ans, actor="dpo")
    risks = {r["question"]: r for r in a.risks}
    assert set(risks) == {"cross_border", "differential_privacy"}
    assert risks["cross_border"]["score"] == 12 and a.level == "medium" and a.score == 12
    assert a.open_actions == () and a.attested_by == "Dana Meyer"
    rows = {r.question.id: r for r in a.rows}
    assert rows["pii_scan"].source == "evidence" and rows["pii_scan"].evidence_id
    assert rows["masking"].source == "attested" and rows["masking"].answer == "yes"
    assert rows["minimization"].note == "minimized in the feature store"
    assert rows["cross_border"].source == "manifest"
    assert a.evidence is not None and a.evidence.verdict.value == "warn"
    data = PiaCheck.read(a.evidence)
    assert data.level == "medium" and data.attested_by == "Dana Meyer" and data.prefilled >= 8
    assert a.evidence.subject.ref == "loans" and a.evidence.subject.digest == a.manifest_digest
    md = render_markdown(a)
    assert "**Risk level: MEDIUM**" in md and "Cross-border transfer" in md
    assert "EU SCCs" in md and f"evidence `{rows['pii_scan'].evidence_id}`" in md
    html = render_html(a)
    assert html.startswith("<!doctype html>") and "Dana Meyer (DPO)" in html
    # The transfer mechanism is required once a transfer exists.
    ans.write_text(ANSWERS.replace("  transfer_mechanism:", "  # transfer_mechanism:"))
    b = assess(ws, m, ans, record=False)
    assert any(x.startswith("transfer_mechanism:") for x in b.open_actions)


def test_bad_answers_are_named(ws: Workspace, tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    ans = tmp_path / "a.yaml"
    ans.write_text("answers: {nonsense: yes}\n")
    with pytest.raises(InputError, match=r"answers\.nonsense: no such question"):
        assess(ws, m, ans)
    ans.write_text("answers: {dpo_consulted: maybe}\n")
    with pytest.raises(InputError, match=r"answers\.dpo_consulted: expected yes or no"):
        assess(ws, m, ans)
    ans.write_text("system: other\n")
    with pytest.raises(InputError, match="for system 'other'"):
        assess(ws, m, ans)
    ans.write_text("attested_by: {name: D}\n")
    with pytest.raises(InputError, match="attested_by"):
        assess(ws, m, ans)


def test_html_escapes_manifest_text(ws: Workspace, tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    m.write_text(MANIFEST.replace("name: Loan scoring", "name: Loans <script>x</script>"))
    html = render_html(assess(None, m))
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_cli_pia(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = start(tmp_path, capsys)
    m = _manifest(tmp_path)
    q = tmp_path / "answers.yaml"
    rc, _, err = run("data", "pia", "questionnaire", "-m", str(m), "-o", str(q))
    assert rc == 0 and "bastion data pia report" in err
    assert yaml.safe_load(q.read_text())["answers"]["cross_border"] == "yes"
    out_md = tmp_path / "pia.md"
    rc, out, _ = run("data", "pia", "report", "-m", str(m), "-a", str(q), "-o", str(out_md))
    assert rc == 1 and "high risk" in out and "attested_by" in out  # unattested: fails
    q.write_text(ANSWERS)
    out_html = tmp_path / "pia.html"
    doc = run.json("data", "pia", "report", "-m", str(m), "-a", str(q), "-o", str(out_html))
    assert doc["verdict"] in ("warn", "fail") and doc["attested_by"] == "Dana Meyer"
    assert out_html.read_text().startswith("<!doctype html>")
    assert out_md.read_text().startswith("# Privacy impact assessment: Loan scoring")


def test_api_pia(ws: Workspace) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    body = {"manifest": MANIFEST, "answers": ANSWERS, "format": "html"}
    assert client.post("/api/v1/data/pia", json=body).status_code == 401
    r = client.post("/api/v1/data/pia/questionnaire", json={"manifest": MANIFEST}, headers=eng)
    assert r.status_code == 200 and "cross_border: 'yes'" in r.text
    assert client.post("/api/v1/data/pia", json=body, headers=viewer).status_code == 403
    r = client.post("/api/v1/data/pia", json=body, headers=eng)
    assert r.status_code == 200, r.text
    assert r.json()["level"] in ("medium", "high") and r.json()["report"].startswith("<!doctype")
    assert r.json()["evidence_id"]
    bad = {**body, "manifest": "apiVersion: bastion/v1\nkind: System\n"}
    assert client.post("/api/v1/data/pia", json=bad, headers=eng).status_code == 422
