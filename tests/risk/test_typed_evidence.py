"""Issue 13 section 1: risk evidence through typed checks (risk.simulation is a registered,
recorded check written through the typed recorder; risk.tier data is a typed model)."""

from __future__ import annotations

import pytest

from bastion.core.checks import get_check, run_check
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from bastion.risk import (
    RiskSimulationCheck,
    RiskSimulationData,
    RiskTierCheck,
    assign_tier,
    parse_scenarios,
    record_simulation,
    simulate,
    trusted_tier,
)
from tests.conftest import EXAMPLE_MANIFEST

DOC = {
    "scenarios": [
        {"id": "s1", "tef": 1, "vulnerability": 1, "primary_loss": {"response": 1000}},
    ]
}


def test_finding_01_risk_simulation_is_a_registered_recorded_check(ws: Workspace) -> None:
    assert get_check("risk.simulation") is RiskSimulationCheck
    assert RiskSimulationCheck.metadata()["recorded"] is True
    res = simulate(parse_scenarios(DOC, "t.yaml"), iterations=500, seed=3)
    record_simulation(ws, res, actor="test")
    (ev,) = ws.evidence.list(EvidenceQuery(check_id=RiskSimulationCheck.id))
    sim = RiskSimulationCheck.read(ev)
    assert isinstance(sim, RiskSimulationData)
    assert (sim.iterations, sim.seed, sim.document["kind"]) == (500, 3, "RiskScenarios")
    assert ev.subject.kind == "risk_scenarios" and ws.evidence.verify_digest(ev)
    # Nobody runs it as a check: it is recorded by the simulation command.
    run = run_check(ws, RiskSimulationCheck, ev.subject)
    assert run.verdict is Verdict.ERROR and "bastion risk simulate --record" in run.data["error"]


def test_finding_01_risk_tier_evidence_is_typed(ws: Workspace) -> None:
    manifest = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, manifest, source="test", actor="test")
    a, eid = assign_tier(ws, manifest, actor="cli")
    ev = ws.evidence.get(eid)
    data = RiskTierCheck.read(ev)
    assert data.tier == a.tier and data.rated_by is not None and data.rated_by.role == "local"
    assert data.inventory_current is True
    assert trusted_tier(ws, manifest.system.id)[0] == ev


def test_finding_01_risk_tier_data_outside_1_to_4_is_refused(ws: Workspace) -> None:
    """A tier outside 1-4 is a bug in the check, never evidence a gate could read."""
    from bastion.core.checks import CheckContext, CheckResult

    class _Bad(RiskTierCheck):
        abstract = True

        def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
            good = super().run(subject, ctx)
            return CheckResult(good.verdict, data=dict(good.data) | {"tier": 9})

    manifest = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, manifest, source="test", actor="test")
    ev = run_check(ws, _Bad(), Subject("system", manifest.system.id))
    assert ev.verdict is Verdict.ERROR and "data.tier" in ev.data["error"]
    with pytest.raises(Exception, match="records an error"):
        RiskTierCheck.read(ev)
