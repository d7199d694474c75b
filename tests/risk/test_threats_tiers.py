"""From threat findings to scenarios, and the tier rule table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bastion.core.errors import InputError
from bastion.manifest import load_manifest
from bastion.risk import (
    ThreatFinding,
    expected_annual_loss,
    load_tier_policy,
    rate_system,
    risk_id,
    scenarios_from_threats,
    simulate,
)
from tests.conftest import EXAMPLE_MANIFEST


@dataclass
class F:
    id: str
    rule_id: str
    element_id: str
    severity: str = "high"
    nist_class: str = "privacy"
    stride: list[str] = field(default_factory=lambda: ["information_disclosure"])
    title: str = "A threat"
    element_kind: str = "inference_endpoint"
    atlas: list[str] = field(default_factory=lambda: ["AML.T0024"])
    mitigated: bool = False
    suppressed: bool = False
    data_assets: list[dict[str, Any]] = field(default_factory=list)


MANIFEST = load_manifest(EXAMPLE_MANIFEST)


def test_finding_protocol_and_open_findings_only() -> None:
    findings = [
        F(
            "t1",
            "ai.membership-inference",
            "scoring-api",
            data_assets=[
                {"id": "applicant-db", "classification": "restricted", "record_count": 5000}
            ],
        ),
        F(
            "t2",
            "ai.evasion",
            "scoring-api",
            nist_class="evasion",
            stride=["tampering"],
            mitigated=True,
        ),
        {
            "id": "t3",
            "rule_id": "ai.model-extraction",
            "title": "Extraction",
            "stride": ["information_disclosure"],
            "element_id": "scoring-api",
            "element_kind": "inference_endpoint",
            "severity": "medium",
            "atlas": ["AML.T0024"],
            "nist_class": "privacy",
            "mitigated": False,
            "suppressed": True,
            "data_assets": [],
        },
    ]
    assert isinstance(findings[0], ThreatFinding)
    ss = scenarios_from_threats(MANIFEST, findings)
    assert [s.id for s in ss.scenarios] == ["ai.membership-inference.scoring-api"]
    s = ss.scenarios[0]
    assert s.threats == ("t1",)
    assert s.risk == risk_id("credit-scoring", "ai.membership-inference", "scoring-api")
    assert s.secondary_loss and s.secondary_frequency is not None


def test_defaults_scale_with_records_classification_and_class() -> None:
    def ale(**kw: Any) -> float:
        ss = scenarios_from_threats(MANIFEST, [F("t", "r", "e", **kw)])
        return expected_annual_loss(ss.scenarios[0])

    few = ale(data_assets=[{"id": "a", "classification": "restricted", "record_count": 1000}])
    many = ale(data_assets=[{"id": "a", "classification": "restricted", "record_count": 100_000}])
    internal = ale(data_assets=[{"id": "a", "classification": "internal", "record_count": 100_000}])
    assert many > few and many > internal
    # Unknown record count falls back to the classification's default.
    assert ale(data_assets=[{"id": "a", "classification": "restricted", "record_count": None}]) > 0
    # Abuse is attempted more often than poisoning.
    abuse = scenarios_from_threats(
        MANIFEST, [F("t", "r", "e", nist_class="abuse", stride=["denial_of_service"])]
    ).scenarios[0]
    pois = scenarios_from_threats(
        MANIFEST, [F("t", "r", "e", nist_class="poisoning", stride=["tampering"])]
    ).scenarios[0]
    assert abuse.tef.mean() > pois.tef.mean()  # type: ignore[union-attr]
    assert dict(pois.primary_loss).keys() >= {"replacement"}
    # Severity drives vulnerability.
    crit = scenarios_from_threats(MANIFEST, [F("t", "r", "e", severity="critical")]).scenarios[0]
    low = scenarios_from_threats(MANIFEST, [F("t", "r", "e", severity="low")]).scenarios[0]
    assert crit.vulnerability.mean() > low.vulnerability.mean()  # type: ignore[union-attr]


def test_overrides_from_scenarios_yaml(tmp_path: Path) -> None:
    f = F("t1", "ai.model-extraction", "scoring-api", nist_class="privacy")
    over = tmp_path / "over.yaml"
    over.write_text(
        "scenarios:\n"
        "  - id: ai.model-extraction.scoring-api\n"
        "    tef: {dist: pert, min: 10, mode: 20, max: 40}\n"
        "  - id: extra\n"
        "    tef: 1\n    vulnerability: 0.1\n    primary_loss: {response: 100}\n"
    )
    ss = scenarios_from_threats(MANIFEST, [f], over)
    s = ss.scenario("ai.model-extraction.scoring-api")
    assert s.tef is not None and s.tef.a == 10
    assert s.vulnerability is not None and s.threats == ("t1",)  # untouched fields kept
    assert "competitive_advantage" in {form.value for form, _ in s.primary_loss}
    assert [x.id for x in ss.scenarios] == ["ai.model-extraction.scoring-api", "extra"]
    assert simulate(ss, iterations=1000, seed=1).portfolio.mean > 0
    over.write_text("scenarios:\n  - id: ai.model-extraction.scoring-api\n    tef: -3\n")
    with pytest.raises(
        InputError,
        match=r"over\.yaml: scenario 'ai.model-extraction.scoring-api', field 'tef': negative frequency",
    ):
        scenarios_from_threats(MANIFEST, [f], over)
    with pytest.raises(InputError, match="missing field 'nist_class'"):
        scenarios_from_threats(MANIFEST, [{"id": "x", "mitigated": False, "suppressed": False}])


def test_stable_risk_ids() -> None:
    a = risk_id("credit-scoring", "ai.model-extraction", "scoring-api")
    assert a == risk_id("credit-scoring", "ai.model-extraction", "scoring-api")
    assert a != risk_id("credit-scoring", "ai.model-extraction", "letter-agent")
    assert a.startswith("risk-") and len(a) == 17


def _manifest(impact: list[str], sensitivity: str, autonomy: str, reg: list[str]) -> Any:
    m = MANIFEST.model_copy(deep=True)
    info = m.system.model_copy(
        update={
            "decision_impact": impact,
            "data_sensitivity": sensitivity,
            "autonomy_level": autonomy,
            "regulatory_scope": reg,
        }
    )
    return m.model_copy(update={"system": info})


@pytest.mark.parametrize(
    ("impact", "sensitivity", "autonomy", "reg", "tier"),
    [
        (["health"], "internal", "autonomous", [], 1),  # rule 0: high impact without a human
        (["safety_critical"], "public", "human_on_the_loop", [], 1),
        (["financial"], "restricted", "autonomous", ["GDPR"], 1),  # total 8
        (
            ["financial", "essential_services"],
            "restricted",
            "human_in_the_loop",
            ["GDPR"],
            2,
        ),  # the example
        (["employment"], "confidential", "human_in_the_loop", [], 2),
        (["health"], "internal", "human_in_the_loop", ["HIPAA"], 2),  # total 5
        (["reputational"], "internal", "human_on_the_loop", [], 3),  # total 3
        (["none"], "internal", "human_in_the_loop", ["GDPR"], 4),  # total 2
        (["none"], "public", "human_in_the_loop", [], 4),
    ],
)
def test_tier_rule_table(
    impact: list[str], sensitivity: str, autonomy: str, reg: list[str], tier: int
) -> None:
    from bastion.manifest import AutonomyLevel, Classification, DecisionImpact

    m = _manifest(
        [DecisionImpact(i) for i in impact],
        Classification(sensitivity),
        AutonomyLevel(autonomy),
        reg,
    )
    a = rate_system(m)
    assert a.tier == tier, a.to_dict()
    pol = load_tier_policy()
    assert a.appetite_p90 == pol.spec(tier).appetite_p90
    # Stricter tiers have lower appetite and more required controls.
    assert [pol.spec(t).appetite_p90 for t in (1, 2, 3, 4)] == sorted(
        pol.spec(t).appetite_p90 for t in (1, 2, 3, 4)
    )


def test_user_policy_overrides_and_is_validated(tmp_path: Path) -> None:
    from bastion.risk import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text()
    p = tmp_path / "tiers.yaml"
    p.write_text(
        text.replace('version: "2025.1"', 'version: "acme-7"').replace(
            "appetite_p90: 1000000", "appetite_p90: 400000"
        )
    )
    pol = load_tier_policy(p)
    a = rate_system(MANIFEST, pol)
    assert a.policy_version == "acme-7" and a.appetite_p90 == 400000
    p.write_text(text.replace("appetite_p90: 1000000", "apetite_p90: 1000000"))
    with pytest.raises(
        InputError, match=r"tiers\.yaml: tier policy entry 'tiers\.1\.(apetite_p90|appetite_p90)'"
    ):
        load_tier_policy(p)
    p.write_text(text.replace("    when: {}\n", "    when: {total: 1}\n"))
    with pytest.raises(InputError, match="last rule must have an empty 'when'"):
        load_tier_policy(p)
