"""The privacy budget ledger: one budget per dataset, one row per release or training run.

Every spend happens in one transaction that first *writes* the dataset's budget row
(``UPDATE ... SET version = version + 1``): on PostgreSQL that row-locks the budget, so a
second release of the same dataset waits and then sees the first one's spend; on SQLite it
takes the database's write lock. Only then are the earlier spends read, composed with the
new one (dp-accounting, RDP or PLD, and basic composition where it is tighter) and the new
one refused when the total would pass the budget: the transaction rolls back and nothing
is spent. The noise is drawn, the evidence recorded and the spend row written inside the
same transaction, so a released value exists only if its spend is committed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bastion.core.canonical import canonical_json
from bastion.core.charts import render_svg
from bastion.core.errors import ConflictError, InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.storage import Base
from bastion.core.workspace import Workspace
from bastion.privacy.dp._accounting import (
    Accounting,
    Mechanism,
    compose_epsilon,
    validate_delta,
    validate_epsilon,
)

__all__ = [
    "Budget",
    "BudgetExceededError",
    "Spend",
    "budget_chart_svg",
    "budget_status",
    "list_budgets",
    "set_budget",
    "spend_budget",
    "validate_dataset_id",
    "would_fit",
]

T = TypeVar("T")
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
_TOL = 1e-9


class BudgetExceededError(ConflictError):
    """A release or training run would pass the dataset's privacy budget (HTTP 409)."""


class DpBudgetRow(Base):
    __tablename__ = "dp_budgets"
    dataset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    accounting: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DpSpendRow(Base):
    __tablename__ = "dp_spends"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("dp_budgets.dataset_id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    mechanisms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    spent_epsilon: Mapped[float] = mapped_column(Float)
    evidence_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def validate_dataset_id(dataset: object) -> str:
    if not isinstance(dataset, str) or not _DATASET.match(dataset):
        raise InputError(
            "dataset: expected an id of 1-200 letters, digits and ._:/@- "
            "(starting with a letter or digit)"
        )
    return dataset


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Spend:
    seq: int
    kind: str
    description: str
    epsilon: float
    delta: float
    spent_epsilon: float
    mechanisms: tuple[Mechanism, ...]
    evidence_id: str | None
    actor: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "description": self.description,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "spent_epsilon": self.spent_epsilon,
            "mechanisms": [m.to_dict() for m in self.mechanisms],
            "evidence_id": self.evidence_id,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Budget:
    dataset: str
    epsilon: float
    delta: float
    accounting: Accounting
    spent_epsilon: float
    spends: tuple[Spend, ...]
    version: int

    @property
    def remaining_epsilon(self) -> float:
        return max(0.0, self.epsilon - self.spent_epsilon)

    def digest(self) -> str:
        body = {"budget": self.to_dict(with_spends=False), "spends": self._spend_docs()}
        return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()

    def _spend_docs(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.spends]

    def to_dict(self, with_spends: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dataset": self.dataset,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "accounting": self.accounting.value,
            "spent_epsilon": self.spent_epsilon,
            "remaining_epsilon": self.remaining_epsilon,
            "version": self.version,
        }
        if with_spends:
            d["spends"] = self._spend_docs()
        return d


def _spend(r: DpSpendRow) -> Spend:
    return Spend(
        r.id,
        r.kind,
        r.description,
        r.epsilon,
        r.delta,
        r.spent_epsilon,
        tuple(Mechanism.from_dict(m) for m in r.mechanisms),
        r.evidence_id,
        r.actor,
        _utc(r.created_at),
    )


def _composed(
    accounting: Accounting, delta: float, spends: Sequence[tuple[float, float, Sequence[Mechanism]]]
) -> float:
    """The best valid epsilon at ``delta`` for these spends: the accountant's, or basic
    composition (sum of epsilons) where the deltas fit and that is tighter."""
    if not spends:
        return 0.0
    mechs = [m for _e, _d, ms in spends for m in ms]
    eps = compose_epsilon(mechs, delta, accounting)
    basic_e = sum(e for e, _d, _ms in spends)
    basic_d = sum(d for _e, d, _ms in spends)
    if basic_d <= delta + 1e-15:
        eps = min(eps, basic_e)
    return eps


def _load(s: Session, dataset: str) -> Budget:
    row = s.get(DpBudgetRow, dataset, populate_existing=True)
    if row is None:
        raise NotFoundError(
            f"no privacy budget is set for dataset {dataset}; fix: bastion privacy budget set "
            f"{dataset} --epsilon E --delta D"
        )
    rows = s.scalars(
        select(DpSpendRow).where(DpSpendRow.dataset_id == dataset).order_by(DpSpendRow.id)
    ).all()
    spends = tuple(_spend(r) for r in rows)
    spent = spends[-1].spent_epsilon if spends else 0.0
    return Budget(
        row.dataset_id,
        row.epsilon,
        row.delta,
        Accounting(row.accounting),
        spent,
        spends,
        row.version,
    )


def budget_status(ws: Workspace, dataset: str) -> Budget:
    """The dataset's budget and every spend (``NotFoundError`` when none is set)."""
    validate_dataset_id(dataset)
    with ws.db.session() as s:
        return _load(s, dataset)


def list_budgets(ws: Workspace, *, limit: int = 500) -> list[Budget]:
    """Every dataset with a budget (by dataset id, at most ``limit``), each with its spends."""
    with ws.db.session() as s:
        ids = s.scalars(
            select(DpBudgetRow.dataset_id).order_by(DpBudgetRow.dataset_id).limit(max(1, limit))
        ).all()
        return [_load(s, d) for d in ids]


def set_budget(
    ws: Workspace,
    dataset: str,
    *,
    epsilon: float,
    delta: float,
    accounting: Accounting | str = Accounting.PLD,
    actor: str = "cli",
) -> Budget:
    """Set (or change) a dataset's budget. A budget below what is already spent is refused;
    the change is a ledger event."""
    validate_dataset_id(dataset)
    eps = validate_epsilon(epsilon)
    d = validate_delta(delta)
    try:
        acc = Accounting(accounting)
    except ValueError:
        raise InputError("accounting: expected rdp or pld") from None
    if acc is Accounting.RDP and d == 0:
        raise InputError("RDP accounting needs a delta above 0; fix: pass --delta or use pld")
    now = datetime.now(UTC)
    with ws.db.session() as s:
        n = s.execute(
            update(DpBudgetRow)
            .where(DpBudgetRow.dataset_id == dataset)
            .values(version=DpBudgetRow.version + 1)
        ).rowcount  # type: ignore[attr-defined]
        if n:
            cur = _load(s, dataset)
            history = [(sp.epsilon, sp.delta, sp.mechanisms) for sp in cur.spends]
            spent = _composed(acc, d, history)
            if spent > eps + _TOL:
                raise ConflictError(
                    f"dataset {dataset} has already spent epsilon {spent:.4g} at delta {d:g}; "
                    f"a budget of {eps:g} would be overspent"
                )
            row = s.get(DpBudgetRow, dataset)
            assert row is not None
            before = {"epsilon": row.epsilon, "delta": row.delta, "accounting": row.accounting}
            row.epsilon, row.delta, row.accounting, row.updated_at = eps, d, acc.value, now
        else:
            before = None
            s.add(
                DpBudgetRow(
                    dataset_id=dataset,
                    epsilon=eps,
                    delta=d,
                    accounting=acc.value,
                    version=1,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "privacy.dp.budget_set",
                    {
                        "dataset": dataset,
                        "epsilon": eps,
                        "delta": d,
                        "accounting": acc.value,
                        "before": before,
                    },
                    actor,
                )
            ],
            session=s,
        )
        return _load(s, dataset)


@dataclass(frozen=True)
class Reservation:
    """What :func:`spend_budget` hands the action that runs under the budget lock."""

    session: Session
    budget: Budget
    spent_after: float


def spend_budget(
    ws: Workspace,
    dataset: str,
    *,
    kind: str,
    description: str,
    epsilon: float,
    delta: float,
    mechanisms: Sequence[Mechanism],
    action: Callable[[Reservation], tuple[T, str | None]],
    actor: str = "cli",
) -> tuple[T, float]:
    """Spend ``(epsilon, delta)`` of ``dataset``'s budget and run ``action`` under its lock.

    ``action`` draws the noise and records evidence in the given session, returning its
    output and the evidence id; it runs only when the spend fits. Refused spends raise
    :class:`BudgetExceededError` and change nothing. Returns the output and the dataset's
    spent epsilon after this spend."""
    validate_dataset_id(dataset)
    with ws.db.session() as s:
        # The first statement writes: it takes the lock before anything is read.
        n = s.execute(
            update(DpBudgetRow)
            .where(DpBudgetRow.dataset_id == dataset)
            .values(version=DpBudgetRow.version + 1)
        ).rowcount  # type: ignore[attr-defined]
        budget = _load(s, dataset)  # NotFoundError when no budget: fail closed
        assert n == 1
        after = _check_fits(budget, dataset, kind, epsilon, delta, mechanisms)
        output, evidence_id = action(Reservation(s, budget, after))
        now = datetime.now(UTC)
        s.add(
            DpSpendRow(
                dataset_id=dataset,
                kind=kind,
                description=description[:300],
                mechanisms=[m.to_dict() for m in mechanisms],
                epsilon=epsilon,
                delta=delta,
                spent_epsilon=after,
                evidence_id=evidence_id,
                actor=actor,
                created_at=now,
            )
        )
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "privacy.dp.spent",
                    {
                        "dataset": dataset,
                        "kind": kind,
                        "epsilon": epsilon,
                        "delta": delta,
                        "mechanisms": [m.to_dict() for m in mechanisms],
                        "spent_epsilon": after,
                        "budget_epsilon": budget.epsilon,
                        "evidence_id": evidence_id,
                    },
                    actor,
                )
            ],
            session=s,
        )
        return output, after


def would_fit(
    ws: Workspace,
    dataset: str,
    *,
    epsilon: float,
    delta: float,
    mechanisms: Sequence[Mechanism],
    kind: str = "release",
) -> float:
    """The spent epsilon after this spend, or :class:`BudgetExceededError` (a preview: only
    :func:`spend_budget` decides, under the lock)."""
    b = budget_status(ws, dataset)
    return _check_fits(b, dataset, kind, epsilon, delta, mechanisms)


def _check_fits(
    budget: Budget,
    dataset: str,
    kind: str,
    epsilon: float,
    delta: float,
    mechanisms: Sequence[Mechanism],
) -> float:
    if delta > budget.delta + 1e-15:
        raise BudgetExceededError(
            f"this {kind} needs delta {delta:g}, above dataset {dataset}'s delta "
            f"{budget.delta:g}; nothing was spent"
        )
    history = [(sp.epsilon, sp.delta, sp.mechanisms) for sp in budget.spends]
    after = _composed(
        budget.accounting, budget.delta, [*history, (epsilon, delta, tuple(mechanisms))]
    )
    if after > budget.epsilon + _TOL:
        raise BudgetExceededError(
            f"this {kind} (epsilon {epsilon:g}, delta {delta:g}) would bring dataset "
            f"{dataset} to epsilon {after:.4g}, over its budget of {budget.epsilon:g} "
            f"(spent so far {budget.spent_epsilon:.4g}); nothing was spent"
        )
    return after


def budget_chart_svg(ws: Workspace, dataset: str) -> str:
    """Epsilon spent over time (a step line) against the budget, as SVG text. Fixed hash
    salt and no date: the same ledger gives byte-identical SVG."""
    from matplotlib.figure import Figure

    b = budget_status(ws, dataset)
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    xs = list(range(len(b.spends) + 1))
    ys = [0.0, *(sp.spent_epsilon for sp in b.spends)]
    ax.step(xs, ys, where="post", color="#1f3b73", lw=2, label="epsilon spent")
    ax.axhline(b.epsilon, color="#c0392b", ls="--", lw=1.5, label=f"budget {b.epsilon:g}")
    if b.spends:
        labels = ["start", *(sp.at.strftime("%Y-%m-%d %H:%M") for sp in b.spends)]
        step = max(1, len(labels) // 8)
        ax.set_xticks(xs[::step], labels[::step], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, max(b.epsilon, *ys) * 1.1)
    ax.set_ylabel(f"epsilon at delta {b.delta:g} ({b.accounting.value})")
    ax.set_title(f"Privacy budget of {dataset}")
    ax.legend(loc="upper left")
    return render_svg(fig, "bastion-dp")
