"""The catalog, its ATLAS data and the rule-file format (bad input refused precisely)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bastion.core.errors import InputError
from bastion.manifest import AssetKind
from bastion.threats import Atlas, builtin_rules, load_atlas, load_rules, load_scenarios

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


def test_every_rule_cites_existing_atlas_and_every_kind_has_stride_rules() -> None:
    rules = builtin_rules().rules
    atlas = load_atlas()
    for r in rules:
        assert all(atlas.technique(t) for t in r.atlas), r.id
        assert r.remediation and r.stride
    kinds = set().union(*(r.kinds or set() for r in rules if r.id.startswith("STRIDE-")))
    covered = {k for k in AssetKind}
    # every asset kind has STRIDE-per-element coverage, either directly or through AI rules
    all_kinds = set().union(*(r.kinds or set() for r in rules))
    assert covered <= all_kinds | kinds
    assert any(r.element.value == "flow" for r in rules)


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
