"""The risk room: FAIR Monte Carlo quantification, risk tiers and the risk register.

Scenarios (YAML, or seeded from threat findings) go through :func:`simulate`, which gives
annualized loss exposure per scenario and for the portfolio, the loss exceedance chart
and the tornado as SVG; :func:`what_if` prices a control. :func:`assign_tier` rates a
system into tier 1-4 as ``risk.tier`` evidence; the register tracks each risk's lifecycle
on the ledger, and accepting a risk above appetite needs an approver with MFA.
"""

from bastion.risk._charts import lec_svg, tornado_svg
from bastion.risk._checks import (
    RiskSimulationCheck,
    RiskSimulationData,
    RiskTierCheck,
    RiskTierData,
    assign_tier,
    manifest_digest,
    trusted_tier,
)
from bastion.risk._dist import Dist, DistKind
from bastion.risk._engine import (
    LossSummary,
    ScenarioResult,
    SimulationResult,
    TornadoBar,
    WhatIfResult,
    expected_annual_loss,
    simulate,
    simulate_scenario,
    tornado,
    what_if,
)
from bastion.risk._model import (
    Control,
    LossForm,
    Scenario,
    ScenarioSet,
    TolerancePoint,
    apply_control,
    load_control,
    load_scenarios,
    parse_control,
    parse_scenarios,
)
from bastion.risk._register import (
    ALLOWED_TRANSITIONS,
    RiskRecord,
    RiskStatus,
    accept_risk,
    add_risk,
    get_risk,
    latest_tier,
    list_risks,
    record_simulation,
    register_from_threats,
    scenario_document,
    update_risk,
)
from bastion.risk._threats import (
    ThreatFinding,
    check_references,
    risk_id,
    scenario_id,
    scenarios_from_threats,
    seed_scenarios,
)
from bastion.risk._tiers import (
    DEFAULT_POLICY,
    TierAssignment,
    TierPolicy,
    TierSpec,
    load_tier_policy,
    rate_system,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_POLICY",
    "Control",
    "Dist",
    "DistKind",
    "LossForm",
    "LossSummary",
    "RiskRecord",
    "RiskSimulationCheck",
    "RiskSimulationData",
    "RiskStatus",
    "RiskTierCheck",
    "RiskTierData",
    "Scenario",
    "ScenarioResult",
    "ScenarioSet",
    "SimulationResult",
    "ThreatFinding",
    "TierAssignment",
    "TierPolicy",
    "TierSpec",
    "TolerancePoint",
    "TornadoBar",
    "WhatIfResult",
    "accept_risk",
    "add_risk",
    "apply_control",
    "assign_tier",
    "check_references",
    "expected_annual_loss",
    "get_risk",
    "latest_tier",
    "lec_svg",
    "list_risks",
    "load_control",
    "load_scenarios",
    "load_tier_policy",
    "manifest_digest",
    "parse_control",
    "parse_scenarios",
    "rate_system",
    "record_simulation",
    "register_from_threats",
    "risk_id",
    "scenario_document",
    "scenario_id",
    "scenarios_from_threats",
    "seed_scenarios",
    "simulate",
    "simulate_scenario",
    "tornado",
    "tornado_svg",
    "trusted_tier",
    "update_risk",
    "what_if",
]
