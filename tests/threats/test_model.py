"""The threat model of the example and of generated systems: pinned findings, noise
budget, suppressions, diff, the gate, evidence-based mitigation, data for the risk room."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from bastion.core.checks import run_check
from bastion.core.errors import InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from bastion.threats import (
    Status,
    diff_models,
    gate,
    manifest_digest,
    model_file,
    model_threats,
    record_model,
    system_threats,
)
from tests.conftest import EXAMPLE_MANIFEST
from tests.threats._gen import example_dict, generated_system

TODAY = date(2025, 7, 1)

# Every (rule, element, status) on the example, reviewed one by one.
EXPECTED = {
    # open: real gaps the manifest does not show a control for
    ("AI-MODEL-FILE", "credit-gbm", "open"),  # pickle
    ("AI-MODEL-FILE", "credit-mlp", "open"),  # torch state dict (zip of pickles)
    ("AI-BACKDOOR", "credit-gbm", "open"),
    ("AI-BACKDOOR", "credit-mlp", "open"),  # the challenger may be promoted
    ("AI-EVASION", "credit-gbm", "open"),  # the champion decides; the shadow mlp does not
    ("AI-EXTRACTION", "scoring-api", "open"),  # rate limit but no probing detection
    ("AI-INVERSION", "scoring-api", "open"),  # returns probabilities, PII upstream
    ("AI-MEMBERSHIP", "scoring-api", "open"),
    ("AI-POISONING", "training-snapshot", "open"),
    ("AI-PROMPT-INJECTION-INDIRECT", "adverse-action-agent", "open"),  # retrieves documents
    ("AI-INFERENCE-LOG-LEAK", "adverse-action-agent", "open"),
    ("AI-INFERENCE-LOG-LEAK", "scoring-api", "open"),
    ("AI-OUTPUT-HANDLING", "llm-completion", "open"),
    ("AI-RAG-POISONING", "policy-vector-store", "open"),
    ("AI-THIRD-PARTY-MODEL", "llm-api", "open"),  # gpt-4o, version not pinned
    ("AI-UNBOUNDED-CONSUMPTION", "llm-api", "open"),  # no spend limit
    ("STRIDE-MODEL-T", "credit-gbm", "open"),  # no signature verification
    ("STRIDE-MODEL-T", "credit-mlp", "open"),
    ("STRIDE-PIPE-T", "training-pipeline", "open"),
    ("STRIDE-EXT-T", "credit-bureau", "open"),
    ("STRIDE-PROC-R", "adverse-action-agent", "open"),
    ("STRIDE-PROC-R", "scoring-api", "open"),
    ("STRIDE-STORE-D", "applicant-db", "open"),
    ("STRIDE-STORE-R", "applicant-db", "open"),
    ("STRIDE-STORE-R", "feature-store", "open"),
    ("STRIDE-STORE-R", "model-registry", "open"),
    ("STRIDE-STORE-R", "training-snapshot", "open"),
    ("STRIDE-ENDPOINT-T", "scoring-api", "open"),  # no signed or immutable image declared
    ("STRIDE-EXT-R", "credit-bureau", "open"),  # the applicant-db keeps no write audit log
    ("STRIDE-EXT-R", "llm-api", "open"),  # the agent keeps no prompt/completion log
    ("STRIDE-EXT-R", "loan-officer", "open"),  # the scoring-api keeps no decision log
    ("STRIDE-FLOW-D", "bureau-reports", "open"),  # no SLA with the bureau, no fallback
    ("STRIDE-FLOW-D", "llm-completion", "open"),  # no fallback when the LLM is down
    ("STRIDE-MODEL-R", "credit-gbm", "open"),  # the champion decides; no version log
    ("STRIDE-PIPE-R", "training-pipeline", "open"),  # no run log or provenance
    ("STRIDE-TOOL-R", "letter-queue", "open"),
    ("STRIDE-TOOL-T", "letter-queue", "open"),  # arguments written by the agent's LLM
    ("STRIDE-VSTORE-D", "policy-vector-store", "open"),
    # mitigated: the manifest declares the control
    ("AI-DATA-EXTRACTION", "llm-api", "mitigated"),  # used_for_training: false
    ("AI-EXCESSIVE-AGENCY", "adverse-action-agent", "mitigated"),
    ("AI-SENSITIVE-DISCLOSURE", "llm-prompt", "mitigated"),  # zero retention, no training
    ("AI-WEIGHTS-THEFT", "model-registry", "mitigated"),
    ("AI-UNBOUNDED-CONSUMPTION", "scoring-api", "mitigated"),
    ("STRIDE-HUMAN-S", "loan-officer", "mitigated"),
    ("STRIDE-PROC-E", "adverse-action-agent", "mitigated"),
    ("STRIDE-PROC-E", "letter-queue", "mitigated"),
    ("STRIDE-PROC-E", "scoring-api", "mitigated"),
    ("STRIDE-STORE-TI", "applicant-db", "mitigated"),
    ("STRIDE-STORE-TI", "feature-store", "mitigated"),
    ("STRIDE-STORE-TI", "model-registry", "mitigated"),
    ("STRIDE-STORE-TI", "training-snapshot", "mitigated"),
    ("STRIDE-AGENT-D", "adverse-action-agent", "mitigated"),  # max_tool_calls
    ("STRIDE-EXT-S", "credit-bureau", "mitigated"),  # mTLS
    ("STRIDE-EXT-S", "llm-api", "mitigated"),  # TLS
    ("STRIDE-FLOW-D", "score-request", "mitigated"),  # scoring-api rate limit
    ("STRIDE-MODEL-D", "credit-gbm", "mitigated"),  # behind the rate-limited endpoint
    ("STRIDE-MODEL-D", "credit-mlp", "mitigated"),
    ("STRIDE-PIPE-I", "training-pipeline", "mitigated"),  # network_egress: false
    ("STRIDE-TOOL-D", "letter-queue", "mitigated"),  # the agent's max_tool_calls
    ("STRIDE-TOOL-I", "letter-queue", "mitigated"),  # SSO
}
CROSSING_FLOWS = {
    "bureau-reports", "decline-event", "deploy-gbm", "deploy-mlp", "draft-enqueue",
    "feature-etl", "llm-completion", "llm-prompt", "model-publish", "online-features",
    "score-request", "score-response", "snapshot-export",
}  # fmt: skip
for _flow in CROSSING_FLOWS:
    EXPECTED |= {("STRIDE-FLOW-TI", _flow, "mitigated"), ("STRIDE-FLOW-S", _flow, "mitigated")}


def test_example_findings_are_pinned() -> None:
    m = model_file(EXAMPLE_MANIFEST, today=TODAY)
    got = {(f.rule.id, f.element_id, f.status.value) for f in m.findings}
    assert got == EXPECTED
    assert len(m.findings) == len(EXPECTED)  # one finding per (rule, element)


def test_noise_budget_example_and_generated_1000() -> None:
    m = model_file(EXAMPLE_MANIFEST, today=TODAY)
    assert len(m.findings) / m.element_count < 5
    big = model_threats(generated_system(32), today=TODAY)  # 32 x 32 = 1,024 elements
    assert big.element_count >= 1000
    assert len(big.findings) / big.element_count < 5
    # every copy yields the example's findings: nothing appears only at scale
    assert len(big.findings) == 32 * len(m.findings)


@pytest.mark.parametrize("seed", [1, 7, 2025])
def test_noise_budget_on_random_1000_element_topologies(seed: int) -> None:
    """Seeded random systems (random kinds, controls, classifications, wiring along
    plausible edges, nested boundaries), not copies of the example: the budget holds and
    findings respect what their rules say about applicability."""
    from collections import Counter

    from tests.threats._gen import random_system

    manifest = random_system(1000, seed)
    m = model_threats(manifest, today=TODAY)
    assert m.element_count == 1000
    assert len(m.findings) / m.element_count < 5
    per_element = Counter(f.element_id for f in m.findings)
    assert max(per_element.values()) <= 10  # no element drowns in findings
    # Meaningful: most of the catalog fires, both open and mitigated.
    assert len({f.rule.id for f in m.findings}) >= 35
    assert {f.status for f in m.findings} >= {Status.OPEN, Status.MITIGATED}
    assets = {a.id: a for a in manifest.assets}
    for f in m.findings:
        kinds = f.rule.kinds
        if f.flow_id is None:
            assert kinds is None or assets[f.element_id].kind in kinds, f.id
        assert f.applies_because and f.mitigation, f.id
        if f.rule.id in ("STRIDE-FLOW-TI", "STRIDE-FLOW-S", "STRIDE-FLOW-D"):
            assert m.graph.crossings(f.element_id), f"{f.id} does not cross a boundary"
        if f.rule.id in ("AI-EVASION", "STRIDE-MODEL-R"):
            assert assets[f.element_id].properties.get("role") not in ("challenger", "shadow")
        if f.rule.id == "STRIDE-PIPE-D":
            assert "schedule" in assets[f.element_id].properties
    # Same seed, same system, same findings.
    again = model_threats(random_system(1000, seed), today=TODAY)
    assert [(f.id, f.status) for f in again.findings] == [(f.id, f.status) for f in m.findings]


def test_every_finding_explains_itself() -> None:
    m = model_file(EXAMPLE_MANIFEST, today=TODAY)
    for f in m.findings:
        assert f.applies_because and f.mitigation.startswith(("mitigated: ", "not mitigated: "))
        assert (f.status is Status.MITIGATED) == f.mitigation.startswith("mitigated: ")
    gbm = next(f for f in m.findings if f.id == "AI-MODEL-FILE:credit-gbm")
    assert "format = 'pickle'" in gbm.applies_because
    prompt = next(f for f in m.findings if f.id == "AI-SENSITIVE-DISCLOSURE:llm-prompt")
    assert "data_retention_days = 0" in prompt.mitigation


def test_findings_carry_what_the_risk_room_needs() -> None:
    m = model_file(EXAMPLE_MANIFEST, today=TODAY)
    d = next(f for f in m.findings if f.id == "AI-MEMBERSHIP:scoring-api").to_dict()
    for key in (
        "id", "rule_id", "title", "stride", "element_id", "element_kind", "flow_id", "severity",
        "atlas", "owasp", "nist_ai_100_2", "cwe", "status", "mitigated", "suppressed",
        "mitigation", "data_assets",
    ):  # fmt: skip
        assert key in d
    assert d["atlas"] == ["AML.T0024.000"] and d["nist_ai_100_2"] == "privacy"
    assets = {a["id"]: a for a in d["data_assets"]}
    assert assets["applicant-db"]["record_count"] == 5000
    assert assets["applicant-db"]["classification"] == "restricted"
    assert "government_id" in assets["applicant-db"]["pii_categories"]
    flow = next(f for f in m.findings if f.id == "AI-SENSITIVE-DISCLOSURE:llm-prompt").to_dict()
    assert flow["flow_id"] == "llm-prompt" and flow["element_kind"] == "flow"


def _write_suppressions(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "accepted.yaml"
    p.write_text("apiVersion: bastion/v1\nkind: ThreatSuppressions\nsuppressions:\n" + body)
    return p


SUPP = """  - rule: AI-MODEL-FILE
    element: credit-mlp
    justification: Challenger only runs in shadow mode inside the scoring process.
    owner: credit-model-dev@bank.example
    expires: {expires}
"""


def test_suppression_active_then_expired(tmp_path: Path) -> None:
    p = _write_suppressions(tmp_path, SUPP.format(expires="2025-12-31"))
    m = model_file(EXAMPLE_MANIFEST, suppressions=p, today=TODAY)
    f = next(f for f in m.findings if f.id == "AI-MODEL-FILE:credit-mlp")
    assert f.status is Status.SUPPRESSED and f.suppression and not f.suppression["expired"]
    assert f.suppression["owner"] == "credit-model-dev@bank.example"
    later = model_file(EXAMPLE_MANIFEST, suppressions=p, today=date(2026, 1, 1))
    f = next(f for f in later.findings if f.id == "AI-MODEL-FILE:credit-mlp")
    assert f.status is Status.OPEN and f.suppression and f.suppression["expired"]
    assert any("expired on 2025-12-31" in n for n in later.notes)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (SUPP.format(expires="2030-01-01").replace("credit-mlp", "nope"), "unknown element 'nope'"),
        (SUPP.format(expires="2030-01-01").replace("AI-MODEL-FILE", "AI-NOPE"), "unknown rule"),
        (SUPP.format(expires="2030-01-01").replace("owner", "ownr"), "suppressions[0]"),
        (SUPP.format(expires="someday"), "expires"),
    ],
)
def test_bad_suppressions_name_file_entry_and_fix(tmp_path: Path, body: str, needle: str) -> None:
    p = _write_suppressions(tmp_path, body)
    with pytest.raises(InputError) as exc:
        model_file(EXAMPLE_MANIFEST, suppressions=p, today=TODAY)
    assert str(p) in exc.value.message and needle in exc.value.message


def test_diff_and_gate(tmp_path: Path) -> None:
    import yaml

    data = example_dict()
    for a in data["assets"]:
        if a["id"] == "credit-gbm":
            a["properties"]["format"] = "onnx"  # removes AI-MODEL-FILE on the champion
        if a["id"] == "llm-api":
            a["properties"]["used_for_training"] = True  # un-mitigates data extraction
    data["assets"].append(
        {"id": "chat-ui", "kind": "human_actor", "name": "Applicant", "owner": "x@y.z",
         "classification": "public"}
    )  # fmt: skip
    data["flows"].append(
        {"id": "chat", "source": "chat-ui", "target": "adverse-action-agent",
         "protocol": "https", "classification": "public"}
    )  # fmt: skip
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(data, sort_keys=False))
    old_m, new_m = model_file(EXAMPLE_MANIFEST, today=TODAY), model_file(new, today=TODAY)
    d = diff_models(old_m, new_m)
    assert {f.id for f in d.removed} == {"AI-MODEL-FILE:credit-gbm"}
    added = {f.id for f in d.added}
    assert "AI-PROMPT-INJECTION-DIRECT:adverse-action-agent" in added
    assert {n.id for _, n in d.changed} == {
        "AI-DATA-EXTRACTION:llm-api",
        "AI-SENSITIVE-DISCLOSURE:llm-prompt",
    }
    assert all(c["changes"]["status"] == ["mitigated", "open"] for c in d.to_dict()["changed"])
    assert {f.id for f in d.new_open_at_least(Severity.CRITICAL)} == set()
    assert "AI-DATA-EXTRACTION:llm-api" in {f.id for f in d.new_open_at_least(Severity.HIGH)}
    assert not gate(old_m, Severity.HIGH) and not gate(old_m, Severity.CRITICAL)
    assert gate(dataclasses.replace(old_m, findings=()), Severity.LOW)


def test_evidence_mitigates_and_model_run_is_ledgered(ws: Workspace) -> None:
    manifest = load_manifest(EXAMPLE_MANIFEST)
    before = model_file(EXAMPLE_MANIFEST, workspace=ws, today=TODAY)
    f = next(f for f in before.findings if f.id == "AI-MODEL-FILE:credit-gbm")
    assert f.status is Status.OPEN and "no evidence of check integrity.scan" in f.mitigation
    ws.evidence.record(
        check_id="integrity.scan",
        subject=Subject("model", "credit-scoring/credit-gbm"),
        verdict=Verdict.PASS,
    )
    after = model_file(EXAMPLE_MANIFEST, workspace=ws, today=TODAY)
    f = next(f for f in after.findings if f.id == "AI-MODEL-FILE:credit-gbm")
    assert f.status is Status.MITIGATED and "is pass" in f.mitigation
    size = ws.ledger.size()
    ev = record_model(ws, after, manifest)
    assert ev.check_id == "threats.model" and ev.verdict is Verdict.FAIL
    assert ev.subject == Subject("system", "credit-scoring", manifest_digest(manifest))
    assert ws.ledger.size() > size and ev.ledger_seq is not None
    assert len(ev.data["findings"]) == len(after.findings) and ev.blobs  # SARIF attached
    assert all("[mitigated]" not in x.message for x in ev.findings)


def test_check_models_the_stored_manifest(ws: Workspace) -> None:
    manifest = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, manifest, source="test", actor="test")
    ev = run_check(ws, "threats.model", Subject("system", "credit-scoring"), actor="t")
    assert ev.verdict is Verdict.FAIL and ev.data["summary"]["findings"] == len(EXPECTED)
    stored = system_threats(ws, "credit-scoring", today=TODAY)
    assert stored.manifest_digest == manifest_digest(manifest)
    bad = run_check(ws, "threats.model", Subject("system", "credit-scoring", "sha256:00"))
    assert bad.verdict is Verdict.ERROR
    assert len(ws.evidence.list(EvidenceQuery(check_id="threats.model"))) == 2
