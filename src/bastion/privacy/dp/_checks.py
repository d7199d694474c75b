"""Checks of differential privacy; importing this module registers them.

``privacy.dp_release`` and ``privacy.dp_training`` are recorded transformations (written by
:func:`~bastion.privacy.dp.release` and :func:`~bastion.privacy.dp.train_dp_logistic` in
the same transaction as the budget spend); ``privacy.dp_budget`` is a check a gate can
require: a dataset with a budget that has not been overspent.
"""

from __future__ import annotations

from typing import Any

from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    RecordedCheck,
    TypedCheck,
)
from bastion.core.errors import NotFoundError
from bastion.core.types import Finding, Severity, Subject, Verdict

__all__ = [
    "DpBudgetCheck",
    "DpBudgetData",
    "DpReleaseCheck",
    "DpReleaseData",
    "DpTrainingCheck",
    "DpTrainingData",
]


class DpReleaseData(EvidenceData):
    dataset: str
    query: dict[str, Any]
    column: str | None = None
    epsilon: float
    delta: float
    mechanisms: list[dict[str, Any]]
    spent_epsilon: float
    budget_epsilon: float
    budget_delta: float
    accounting: str
    input_digest: str
    output_digest: str
    result: Any


class DpReleaseCheck(RecordedCheck[DpReleaseData]):
    id = "privacy.dp_release"
    title = "Differentially private release within the dataset's privacy budget"
    description = (
        "A DP aggregate (count, sum, mean, histogram, quantiles) with Laplace or Gaussian "
        "noise, its (epsilon, delta) spent from the dataset's budget, with the digests of the "
        "input column and of the released output."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    references = ("NIST SP 800-226",)
    recorded_by = "bastion privacy release (bastion.privacy.dp.release)"


class DpTrainingData(EvidenceData):
    dataset: str
    model: str
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float
    engine: str
    spent_epsilon: float
    budget_epsilon: float
    accounting: str
    input_digest: str
    output_digest: str


class DpTrainingCheck(RecordedCheck[DpTrainingData]):
    id = "privacy.dp_training"
    title = "Model trained with DP-SGD within the dataset's privacy budget"
    description = (
        "A model trained with DP-SGD (per-example clipping, Gaussian noise, Poisson "
        "sampling), accounted with the RDP accountant; digests of the training data and the "
        "trained model."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    references = ("Abadi et al. 2016, Deep Learning with Differential Privacy",)
    recorded_by = "bastion privacy train (bastion.privacy.dp.train_dp_logistic)"


class DpBudgetData(EvidenceData):
    dataset: str
    budget_epsilon: float | None
    budget_delta: float | None
    accounting: str | None
    spent_epsilon: float
    spends: int
    ledger_digest: str


class DpBudgetCheck(TypedCheck[DpBudgetData]):
    id = "privacy.dp_budget"
    title = "Dataset has a privacy budget and it is not overspent"
    description = (
        "Passes when the dataset (subject ref: its id in the budget ledger) has a privacy "
        "budget and the composed epsilon of its releases and training runs is within it. "
        "Fails closed when no budget is set."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.privacy.dp._budget import budget_status

        try:
            st = budget_status(ctx.workspace, subject.ref)
        except NotFoundError:
            return CheckResult(
                Verdict.FAIL,
                findings=(
                    Finding(
                        "privacy.dp_budget.missing",
                        "No privacy budget is set for this dataset",
                        Severity.HIGH,
                        "DP releases of a dataset without a budget are refused; none is set",
                        remediation="bastion privacy budget set DATASET --epsilon E --delta D",
                    ),
                ),
                data=DpBudgetData(
                    dataset=subject.ref[:200],
                    budget_epsilon=None,
                    budget_delta=None,
                    accounting=None,
                    spent_epsilon=0.0,
                    spends=0,
                    ledger_digest="",
                ).model_dump(),
            )
        over = st.spent_epsilon > st.epsilon + 1e-9
        findings = (
            (
                Finding(
                    "privacy.dp_budget.overspent",
                    "The dataset's privacy budget is overspent",
                    Severity.HIGH,
                    f"Spent epsilon {st.spent_epsilon:.4g} is above the budget {st.epsilon:g}",
                ),
            )
            if over
            else ()
        )
        return CheckResult(
            Verdict.FAIL if over else Verdict.PASS,
            findings=findings,
            data=DpBudgetData(
                dataset=st.dataset,
                budget_epsilon=st.epsilon,
                budget_delta=st.delta,
                accounting=st.accounting.value,
                spent_epsilon=st.spent_epsilon,
                spends=len(st.spends),
                ledger_digest=st.digest(),
            ).model_dump(),
        )
