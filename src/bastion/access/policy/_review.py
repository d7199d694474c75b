"""Least privilege: grants nobody used, and grants beyond what a principal's role needs.

Two findings, from the grant rows and a role baseline (``baselines.yaml`` of the policy
directory: each role's usual actions):

- *unused*: an approved grant with no use in the last ``days`` days that is either
  older than that or already over (a grant made an hour ago is not yet "unused");
- *beyond baseline*: an active grant whose action none of the principal's roles (as
  given when the grant was requested) holds in the baseline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bastion.access.policy._documents import Baselines
from bastion.access.policy._grants import Grant, list_grants
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

__all__ = ["AccessReview", "least_privilege_report"]


@dataclass(frozen=True)
class AccessReview:
    days: int
    generated_at: datetime
    #: whether a role baseline was given (without one, beyond_baseline is not assessed)
    with_baselines: bool
    unused: tuple[Grant, ...]
    beyond_baseline: tuple[tuple[str, tuple[Grant, ...]], ...]  # principal -> grants

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "generated_at": self.generated_at.isoformat(),
            "baselines": self.with_baselines,
            "unused_grants": [
                g.to_dict()
                | {"last_used_at": g.last_used_at.isoformat() if g.last_used_at else None}
                for g in self.unused
            ],
            "beyond_baseline": [
                {
                    "principal": p,
                    "roles": list(gs[0].roles),
                    "grants": [
                        {
                            "id": g.id,
                            "action": g.action.value,
                            "resource": f"{g.resource.kind.value}:{g.resource.id}",
                        }
                        for g in gs
                    ],
                }
                for p, gs in self.beyond_baseline
            ],
        }

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(finding, principal, grant, action on resource, detail) for a table."""
        out: list[tuple[str, str, str, str, str]] = []
        for g in self.unused:
            last = g.last_used_at.date().isoformat() if g.last_used_at else "never"
            out.append(
                (
                    "unused",
                    g.principal,
                    g.id,
                    f"{g.action.value} {g.resource.kind.value}:{g.resource.id}",
                    f"last used {last}, {g.state()}",
                )
            )
        for p, gs in self.beyond_baseline:
            for g in gs:
                roles = ", ".join(g.roles) or "no role"
                out.append(
                    (
                        "beyond baseline",
                        p,
                        g.id,
                        f"{g.action.value} {g.resource.kind.value}:{g.resource.id}",
                        f"not in the baseline of {roles}",
                    )
                )
        return out


def least_privilege_report(
    ws: Workspace,
    *,
    days: int = 30,
    baselines: Baselines | None = None,
    now: datetime | None = None,
) -> AccessReview:
    if not 1 <= days <= 3650:
        raise InputError("--days must be between 1 and 3650")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    grants = list_grants(ws, limit=10_000)
    unused: list[Grant] = []
    beyond: dict[str, list[Grant]] = defaultdict(list)
    base = baselines.roles if baselines is not None else {}
    for g in grants:
        state = g.state(now)
        if state not in ("active", "expired"):
            continue
        used_recently = g.last_used_at is not None and g.last_used_at >= cutoff
        old_enough = (g.decided_at is not None and g.decided_at <= cutoff) or state == "expired"
        if not used_recently and old_enough:
            unused.append(g)
        if state == "active" and baselines is not None:
            allowed = {a for r in g.roles for a in base.get(r, [])}
            if g.action not in allowed:
                beyond[g.principal].append(g)
    return AccessReview(
        days=days,
        generated_at=now,
        with_baselines=baselines is not None,
        unused=tuple(unused),
        beyond_baseline=tuple(sorted((p, tuple(gs)) for p, gs in beyond.items())),
    )
