"""An incident's response at a glance: each playbook step from the run's start to its
deadline, with when it was completed (green on time, red late) or that it is still open,
and the timeline's events along the top. SVG through ``bastion.core.charts.render_svg``."""

from __future__ import annotations

from datetime import datetime

from bastion.core.charts import render_svg
from bastion.incidents._store import now
from bastion.incidents.interface import Incident

__all__ = ["timeline_svg"]

_ON_TIME, _LATE, _OPEN, _WINDOW = "#2e7d32", "#c62828", "#9e9e9e", "#bbdefb"


def timeline_svg(incident: Incident, *, at: datetime | None = None) -> str:
    """The chart of ``incident``; ``at`` is "now" for steps still open (default: now)."""
    from matplotlib.figure import Figure

    current = at or incident.closed_at or now()
    t0 = incident.created_at
    steps = list(incident.steps)

    def hours(t: datetime) -> float:
        return (t - t0).total_seconds() / 3600

    fig = Figure(figsize=(8, 1.2 + 0.45 * max(1, len(steps))))
    ax = fig.add_subplot()
    labels = []
    for i, s in enumerate(steps):
        y = len(steps) - i
        labels.append((y, f"{s.step} ({', '.join(s.owners)[:40]})"))
        start = next(
            (t.at for t in incident.timeline
             if t.kind == "playbook_started" and t.data.get("run") == s.run_id),
            t0,
        )  # fmt: skip
        if s.deadline is not None:
            ax.barh(y, hours(s.deadline) - hours(start), left=hours(start), height=0.5,
                    color=_WINDOW, edgecolor="#64b5f6")  # fmt: skip
        if s.completed_at is not None:
            late = s.deadline is not None and s.completed_at > s.deadline
            ax.plot([hours(s.completed_at)], [y], marker="o", color=_LATE if late else _ON_TIME)
        elif s.status != "done":
            ax.plot([hours(start), hours(current)], [y, y], linestyle=":", color=_OPEN)
            ax.plot([hours(current)], [y], marker=">", color=_LATE if s.status == "failed"
                    else _OPEN)  # fmt: skip
    top = len(steps) + 1
    for t in incident.timeline:
        ax.plot([hours(t.at)], [top], marker="|", color="#455a64")
    labels.append((top, "timeline"))
    ax.set_yticks([y for y, _ in labels], [text for _, text in labels])
    ax.set_xlabel(f"hours since the incident was opened ({t0:%Y-%m-%d %H:%M} UTC)")
    ax.set_title(f"{incident.title[:80]} [{incident.severity}, {incident.status.value}]")
    ax.set_ylim(0.3, top + 0.7)
    ax.margins(x=0.03)
    ax.grid(axis="x", alpha=0.3)
    return render_svg(fig, salt=f"incident-{incident.id}")
