"""Differential privacy: per-dataset privacy budgets, DP aggregates, DP training.

Every release (:func:`release`) and training run (:func:`train_dp_logistic`) spends from the
dataset's budget in the budget ledger (:func:`set_budget`, :func:`budget_status`), composed
with Google's dp-accounting (RDP or PLD); one that would pass the budget is refused and
nothing is spent. :func:`plan` gives DP-SGD's noise multiplier for a target epsilon (and
the reverse) with dp-accounting's RDP accountant on Opacus's orders.
"""

from bastion.privacy.dp._accounting import (
    OPACUS_ORDERS,
    Accounting,
    Mechanism,
    MechanismKind,
    PrivacyPlan,
    compose_epsilon,
    dp_sgd_epsilon,
    dp_sgd_noise_multiplier,
    plan,
)
from bastion.privacy.dp._budget import (
    Budget,
    BudgetExceededError,
    Spend,
    budget_chart_svg,
    budget_status,
    list_budgets,
    set_budget,
    would_fit,
)
from bastion.privacy.dp._checks import (
    DpBudgetCheck,
    DpBudgetData,
    DpReleaseCheck,
    DpReleaseData,
    DpTrainingCheck,
    DpTrainingData,
)
from bastion.privacy.dp._mechanisms import Aggregate, DpResult, Query, evaluate, make_query
from bastion.privacy.dp._release import Release, release, values_digest
from bastion.privacy.dp._training import (
    DpLogisticModel,
    Engine,
    fit_dp_logistic,
    train_dp_logistic,
)

__all__ = [
    "OPACUS_ORDERS",
    "Accounting",
    "Aggregate",
    "Budget",
    "BudgetExceededError",
    "DpBudgetCheck",
    "DpBudgetData",
    "DpLogisticModel",
    "DpReleaseCheck",
    "DpReleaseData",
    "DpResult",
    "DpTrainingCheck",
    "DpTrainingData",
    "Engine",
    "Mechanism",
    "MechanismKind",
    "PrivacyPlan",
    "Query",
    "Release",
    "Spend",
    "budget_chart_svg",
    "budget_status",
    "compose_epsilon",
    "dp_sgd_epsilon",
    "dp_sgd_noise_multiplier",
    "evaluate",
    "fit_dp_logistic",
    "list_budgets",
    "make_query",
    "plan",
    "release",
    "set_budget",
    "train_dp_logistic",
    "values_digest",
    "would_fit",
]
