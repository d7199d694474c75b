"""A DP release: validate, spend the budget, draw the noise and record the evidence, in one
transaction (see :mod:`bastion.privacy.dp._budget`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.core.canonical import canonical_json
from bastion.core.checks import record_evidence
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.dp._budget import Reservation, spend_budget, validate_dataset_id
from bastion.privacy.dp._checks import DpReleaseCheck, DpReleaseData
from bastion.privacy.dp._mechanisms import DpResult, Query, evaluate

__all__ = ["Release", "release", "values_digest"]

MAX_VALUES = 10_000_000


def values_digest(values: Sequence[object]) -> str:
    """A digest of a column's values (when the caller has no file digest)."""
    h = hashlib.sha256()
    for v in values:
        b = ("" if v is None else str(v)).encode()
        h.update(len(b).to_bytes(8, "big") + b)
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Release:
    dataset: str
    result: DpResult
    spent_epsilon: float
    budget_epsilon: float
    evidence_id: str
    output_digest: str

    @property
    def value(self) -> Any:
        return self.result.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            **self.result.to_dict(),
            "spent_epsilon": self.spent_epsilon,
            "budget_epsilon": self.budget_epsilon,
            "remaining_epsilon": max(0.0, self.budget_epsilon - self.spent_epsilon),
            "evidence_id": self.evidence_id,
            "output_digest": self.output_digest,
        }


def release(
    ws: Workspace,
    dataset: str,
    values: Sequence[object],
    query: Query,
    *,
    column: str | None = None,
    input_digest: str | None = None,
    actor: str = "cli",
    rng: np.random.Generator | None = None,
) -> Release:
    """Release ``query`` over ``values`` (one column of ``dataset``) if the dataset's budget
    allows it (:class:`~bastion.privacy.dp.BudgetExceededError` otherwise: nothing spent,
    nothing released). ``rng`` is for tests only: fixed noise is no privacy."""
    validate_dataset_id(dataset)
    if len(values) > MAX_VALUES:
        from bastion.core.errors import InputError

        raise InputError(f"more than {MAX_VALUES} values in one release")
    digest_in = input_digest or values_digest(values)
    mechs = query.mechanisms()
    holder: dict[str, Any] = {}

    def act(r: Reservation) -> tuple[DpResult, str | None]:
        res = evaluate(query, values, rng=rng)
        out = "sha256:" + hashlib.sha256(canonical_json(res.value)).hexdigest()
        holder["out"] = out
        holder["budget"] = r.budget
        ev = record_evidence(
            ws,
            DpReleaseCheck,
            Subject("dataset", dataset, digest_in),
            verdict=Verdict.PASS,
            data=DpReleaseData(
                dataset=dataset,
                query=query.to_dict(),
                column=column,
                epsilon=query.epsilon,
                delta=query.delta,
                mechanisms=[m.to_dict() for m in mechs],
                spent_epsilon=r.spent_after,
                budget_epsilon=r.budget.epsilon,
                budget_delta=r.budget.delta,
                accounting=r.budget.accounting.value,
                input_digest=digest_in,
                output_digest=out,
                result=res.value,
            ),
            actor=actor,
            session=r.session,
        )
        holder["evidence"] = ev.id
        from bastion.privacy.lineage import dp_release_lineage

        dp_release_lineage(
            ws, dataset=dataset, column=column, input_digest=digest_in, output_digest=out,
            aggregate=query.aggregate.value, evidence_id=ev.id, actor=actor, session=r.session,
        )  # fmt: skip
        return res, ev.id

    res, after = spend_budget(
        ws,
        dataset,
        kind="release",
        description=f"{query.aggregate.value} of {column or 'values'} ({query.noise.value})",
        epsilon=query.epsilon,
        delta=query.delta,
        mechanisms=mechs,
        action=act,
        actor=actor,
    )
    return Release(dataset, res, after, holder["budget"].epsilon, holder["evidence"], holder["out"])
