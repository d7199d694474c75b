"""Recent guard decisions, read back from the ledger (``bastion guard decisions``)."""

from __future__ import annotations

from typing import Any

from bastion.core.workspace import Workspace

__all__ = ["recent_decisions"]


def recent_decisions(
    ws: Workspace,
    *,
    limit: int = 50,
    guard: str | None = None,
    endpoint: str | None = None,
    denied_only: bool = False,
) -> list[dict[str, Any]]:
    """The newest ``guard.decision`` events (newest first), filtered."""
    out: list[dict[str, Any]] = []
    start = 0
    page = max(limit, 200)
    while len(out) < limit:
        entries = ws.ledger.entries(kind="guard.decision", start=start, limit=page,
                                    newest_first=True)  # fmt: skip
        if not entries:
            break
        for e in entries:
            d = e.data
            if guard and d.get("guard") != guard:
                continue
            if endpoint and d.get("endpoint") != endpoint:
                continue
            if denied_only and d.get("decision") != "deny":
                continue
            out.append({"seq": e.seq, "time": e.recorded_at.isoformat(), **d})
            if len(out) >= limit:
                break
        start += len(entries)
    return out
