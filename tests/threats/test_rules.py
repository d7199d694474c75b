"""The catalog, its ATLAS data and the rule-file format (bad input refused precisely)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bastion.core.errors import InputError
from bastion.manifest import AssetKind
from bastion.threats import (
    Atlas,
    Condition,
    builtin_rules,
    load_atlas,
    load_rules,
    load_scenarios,
)

SHARED_ATLAS = Path("/work/shared/data/atlas/ATLAS.yaml")


def test_shipped_atlas_matches_upstream_ids_and_names() -> None:
    atlas = load_atlas()
    up = yaml.load(SHARED_ATLAS.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    matrix = up["matrices"][0]
    assert atlas.atlas_version == str(up["version"])
    names = {t["id"]: t["name"] for t in matrix["techniques"]}
    assert {t.id: t.name for t in atlas.techniques} == names
    assert {t.id for t in atlas.tactics} == {t["id"] for t in matrix["tactics"]}
    # the quirk: AML.M0018 lists AML.T0052.001 inside ml-lifecycle; we keep the link
    m18 = next(m for m in atlas.mitigations if m.id == "AML.M0018")
    assert "AML.T0052.001" in m18.techniques and atlas.quirks_fixed
    assert "MITRE" in atlas.attribution and atlas.license == "Apache-2.0"
    assert [t.shortname for t in atlas.tactics_of("AML.T0024.000")] == ["exfiltration"]


def test_atlas_validation_refuses_broken_links() -> None:
    from importlib import resources

    raw = json.loads(resources.files("bastion.threats").joinpath("data/atlas.json").read_bytes())
    raw["mitigations"][0]["techniques"].append("AML.T9999")
    with pytest.raises(ValueError, match=r"unknown technique AML\.T9999"):
        Atlas.model_validate(raw)


# STRIDE per element (Microsoft SDL): which categories each element type must be examined
# for, and which DFD element type each asset kind is. A hosted third-party model is an
# external entity: the system cannot change its code, only how it trusts it.
STRIDE_PER_ELEMENT = {
    "process": "STRIDE",
    "data_store": "TRID",
    "external_entity": "SR",
    "data_flow": "TID",
}
ELEMENT_TYPE = {
    AssetKind.MODEL: "process",
    AssetKind.INFERENCE_ENDPOINT: "process",
    AssetKind.AGENT: "process",
    AssetKind.TOOL: "process",
    AssetKind.TRAINING_PIPELINE: "process",
    AssetKind.DATA_STORE: "data_store",
    AssetKind.DATASET: "data_store",
    AssetKind.FEATURE_STORE: "data_store",
    AssetKind.VECTOR_STORE: "data_store",
    AssetKind.HUMAN_ACTOR: "external_entity",
    AssetKind.EXTERNAL_SERVICE: "external_entity",
    AssetKind.THIRD_PARTY_MODEL_API: "external_entity",
}


def test_every_rule_cites_existing_atlas() -> None:
    atlas = load_atlas()
    for r in builtin_rules().rules:
        assert all(atlas.technique(t) for t in r.atlas), r.id
        assert r.remediation and r.stride


@pytest.mark.parametrize("kind", sorted(AssetKind, key=lambda k: k.value))
def test_stride_per_element_every_kind_has_its_categories(kind: AssetKind) -> None:
    assert set(ELEMENT_TYPE) == set(AssetKind)  # a new kind must be classified here
    have = {
        s.letter
        for r in builtin_rules().rules
        if r.element.value == "asset" and (r.kinds is None or kind in r.kinds)
        for s in r.stride
    }
    want = set(STRIDE_PER_ELEMENT[ELEMENT_TYPE[kind]])
    assert want <= have, f"{kind.value} ({ELEMENT_TYPE[kind]}) lacks {sorted(want - have)}"


def test_stride_per_element_data_flows() -> None:
    have = {s.letter for r in builtin_rules().rules if r.element.value == "flow" for s in r.stride}
    assert set(STRIDE_PER_ELEMENT["data_flow"]) <= have


AI_TOPICS = {
    "evasion": "AI-EVASION",
    "data poisoning": "AI-POISONING",
    "backdoors": "AI-BACKDOOR",
    "model extraction": "AI-EXTRACTION",
    "model inversion": "AI-INVERSION",
    "membership inference": "AI-MEMBERSHIP",
    "training-data extraction": "AI-DATA-EXTRACTION",
    "supply chain of model files": "AI-MODEL-FILE",
    "third-party models": "AI-THIRD-PARTY-MODEL",
    "direct prompt injection": "AI-PROMPT-INJECTION-DIRECT",
    "indirect prompt injection": "AI-PROMPT-INJECTION-INDIRECT",
    "sensitive information disclosure": "AI-SENSITIVE-DISCLOSURE",
    "excessive agency": "AI-EXCESSIVE-AGENCY",
    "insecure output handling": "AI-OUTPUT-HANDLING",
    "RAG poisoning": "AI-RAG-POISONING",
    "unbounded consumption": "AI-UNBOUNDED-CONSUMPTION",
    "theft of weights": "AI-WEIGHTS-THEFT",
    "leakage of inference logs": "AI-INFERENCE-LOG-LEAK",
}


@pytest.mark.parametrize("topic", sorted(AI_TOPICS))
def test_issue_ai_topics_are_covered_with_mappings(topic: str) -> None:
    r = builtin_rules().get(AI_TOPICS[topic])
    assert r is not None and r.atlas and r.owasp and r.nist_ai_100_2.value
    assert r.controls, "remediation must name the Bastion check or control"


def test_scenarios_cover_the_three_privacy_attacks() -> None:
    ids = {s.id for s in load_scenarios()}
    assert {"model-inversion", "membership-inference", "training-data-extraction"} <= ids


RULE = """apiVersion: bastion/v1
kind: ThreatRules
rules:
  - id: CUSTOM-GPU-D
    title: GPU exhaustion on a model server
    element: asset
    stride: [denial_of_service]
    severity: low
    description: Long inputs saturate the accelerator.
    applies_when: {kind: [model]}
    mitigated_when: {property: {name: max_input_tokens, exists: true}}
    nist_ai_100_2: availability
    remediation: Bound input size.
"""


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda s: s.replace("    remediation:", "    remedation:"), "rules[0] (rule CUSTOM-GPU-D).remedation: unknown property"),
        (lambda s: s.replace("{kind: [model]}", "{kind: [model], pii: any}"), "exactly one test"),
        (lambda s: s.replace("{kind: [model]}", "{colour: red}"), "colour: unknown property"),
        (lambda s: s.replace("nist_ai_100_2: availability", "nist_ai_100_2: availability\n    atlas: [AML.T9999]"), "unknown ATLAS technique AML.T9999"),
        (lambda s: s.replace("id: CUSTOM-GPU-D", "id: AI-EVASION"), "defined twice"),
        (lambda s: s + "  - &a {id: X}\n  - *a\n", "aliases"),
    ],
)  # fmt: skip
def test_bad_rule_files_name_file_rule_and_fix(tmp_path: Path, edit, needle: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "custom.yaml"
    p.write_text(edit(RULE))
    with pytest.raises(InputError) as exc:
        load_rules([p])
    assert str(p) in exc.value.message or "defined twice" in needle
    assert needle in exc.value.message


def test_custom_rule_file_loads_and_applies(tmp_path: Path) -> None:
    from bastion.threats import model_file
    from tests.conftest import EXAMPLE_MANIFEST

    p = tmp_path / "custom.yaml"
    p.write_text(RULE)
    m = model_file(EXAMPLE_MANIFEST, rule_files=[p])
    got = {f.element_id for f in m.findings if f.rule.id == "CUSTOM-GPU-D"}
    assert got == {"credit-gbm", "credit-mlp"}


# Check ids the catalog names (in `evidence:` conditions, `controls` and remediation text)
# whose rooms do not register them yet. Until they do, the manifest properties in the same
# `mitigated_when` mitigate. docs/threats.md lists the same split; a referenced id that is
# neither registered nor listed here (a typo such as `integrity.signatur`) fails the test.
PLANNED_CHECKS = {
    "guard.output-validation": "guard room",
    "guard.prompt-injection": "guard room",
    "guard.tool-arguments": "guard room",
    "hardening.audit-logging": "hardening room",
    "hardening.image-signature": "hardening room",
    "integrity.dataset-provenance": "integrity room: dataset hashing and lineage",
    "integrity.input-validation": "integrity room: ingestion schema checks",
    "integrity.rag-ingestion": "integrity room: retrieval-corpus ingestion",
    "monitor.decision-log": "monitor room",
    "monitor.extraction": "monitor room",
    "privacy.log-redaction": "privacy room",
    "robustness.backdoor": "robustness room",
    "robustness.data-extraction": "robustness room",
    "robustness.evasion": "robustness room",
    "robustness.membership-inference": "robustness room",
    "robustness.model-inversion": "robustness room",
}
_ROOMS = (
    "access|compliance|governance|guard|hardening|incidents|integrity|inventory|monitor|"
    "privacy|registry|risk|robustness|threats"
)
_CHECK_ID = re.compile(rf"\b(?:{_ROOMS})\.[a-z][a-z0-9-]*[a-z0-9]\b")


def _referenced_checks() -> dict[str, set[str]]:
    """Check id -> the rules that name it."""
    out: dict[str, set[str]] = {}

    def walk(c: Condition | None, rule: str) -> None:
        if c is None:
            return
        if c.evidence is not None:
            out.setdefault(c.evidence.check, set()).add(rule)
        for sub in (*(c.all_ or ()), *(c.any_ or ())):
            walk(sub, rule)
        for sub2 in (c.not_, c.source, c.target, c.receives_from, c.sends_to, c.lineage):
            walk(sub2, rule)

    for r in builtin_rules().rules:
        walk(r.applies_when, r.id)
        walk(r.mitigated_when, r.id)
        for text in (*r.controls, r.remediation):
            for cid in _CHECK_ID.findall(text):
                out.setdefault(cid, set()).add(r.id)
    return out


def test_referenced_check_ids_exist_or_are_planned() -> None:
    from bastion._plugins import load_checks
    from bastion.core.checks import all_checks

    load_checks()
    registered = {c.id for c in all_checks()}
    referenced = _referenced_checks()
    unknown = {cid: sorted(rules) for cid, rules in referenced.items()
               if cid not in registered and cid not in PLANNED_CHECKS}  # fmt: skip
    assert unknown == {}, "typo, or a new planned check to list in PLANNED_CHECKS and the docs"
    stale = sorted(set(PLANNED_CHECKS) - set(referenced))
    assert stale == [], "planned checks no rule names any more"
    # The existing ones the catalog relies on (evidence mitigates through them today).
    assert {"integrity.scan", "integrity.signature", "integrity.dependencies",
            "integrity.provenance", "threats.questionnaire"} <= set(referenced) & registered  # fmt: skip
    # docs/threats.md marks each planned id as planned.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "threats.md").read_text()
    section = docs[docs.index("### Checks the rules name") :]
    section = section[: section.index("\n### ", 5)]
    for cid in PLANNED_CHECKS:
        line = next(x for x in section.splitlines() if f"`{cid}`" in x)
        assert "planned" in line, cid
