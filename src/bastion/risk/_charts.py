"""Charts as SVG text: the loss exceedance curve against tolerance, and the tornado.

Rendered with matplotlib's object API on the Agg/SVG backends (no pyplot global state),
with a fixed hash salt and no date, so the same result gives byte-identical SVG: the page,
the report and the audit package can all show (and hash) the same chart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bastion.core.errors import InputError

if TYPE_CHECKING:
    from bastion.risk._engine import SimulationResult
    from bastion.risk._model import TolerancePoint

__all__ = ["lec_svg", "tornado_svg"]

_MAX_CURVES = 8


def _render(fig: Any) -> str:
    import matplotlib as mpl
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "bastion-risk", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()


def _money(x: float, _pos: object = None) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return f"{x:g}"


def _exceedance(losses: np.ndarray[Any, Any], grid: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    s = np.sort(losses)
    out: np.ndarray[Any, Any] = 1.0 - np.searchsorted(s, grid, side="right") / s.size
    return out


def lec_svg(result: SimulationResult, tolerance: Sequence[TolerancePoint] | None = None) -> str:
    """Loss exceedance curves (portfolio and each scenario, up to 8) with the tolerance curve."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    tol = list(tolerance if tolerance is not None else result.scenarios.tolerance)
    port = result.portfolio_loss
    positive = port[port > 0]
    hi = max(float(port.max()), *(t.loss for t in tol), 1.0)
    lo = float(np.percentile(positive, 1)) if positive.size else 1.0
    lo = min([lo, *(t.loss for t in tol)]) / 2
    grid = np.geomspace(max(lo, 1e-6), hi * 1.05, 400)
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    ax.plot(grid, _exceedance(port, grid), color="#1f3b73", lw=2.2, label="Portfolio")
    if len(result.results) > 1:
        for r in result.results[:_MAX_CURVES]:
            ax.plot(grid, _exceedance(r.annual_loss, grid), lw=1, alpha=0.8, label=r.scenario.name)
    if tol:
        ax.plot(
            [t.loss for t in tol],
            [t.probability for t in tol],
            color="#c0392b",
            ls="--",
            marker="o",
            lw=1.6,
            label="Risk tolerance",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"Annual loss ({result.scenarios.currency})")
    ax.set_ylabel("Probability of exceeding")
    ax.set_title(f"Loss exceedance ({result.iterations:,} simulated years, seed {result.seed})")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper right", fontsize=8)
    return _render(fig)


def tornado_svg(result: SimulationResult, scenario_id: str | None = None) -> str:
    """Tornado of one scenario (default: the one with the largest mean annual loss)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from bastion.risk._engine import tornado

    if scenario_id is None:
        sres = max(result.results, key=lambda r: r.summary.mean)
    else:
        matches = [r for r in result.results if r.scenario.id == scenario_id]
        if not matches:
            raise InputError(
                f"{result.scenarios.source}: no scenario '{scenario_id}' for the tornado; fix: name one of {', '.join(r.scenario.id for r in result.results)}"
            )
        sres = matches[0]
    base, bars = tornado(sres.scenario)
    bars = bars[:15][::-1]
    fig = Figure(figsize=(8, 0.45 * len(bars) + 1.6))
    ax = fig.add_subplot()
    y = np.arange(len(bars))
    for i, b in enumerate(bars):
        ax.barh(i, b.ale_at_low - base, left=base, color="#2e86c1", height=0.6)
        ax.barh(i, b.ale_at_high - base, left=base, color="#e67e22", height=0.6)
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, [b.input for b in bars], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(
        f"Mean annual loss ({result.scenarios.currency}); blue: input at P10, orange: at P90"
    )
    ax.set_title(f"Sensitivity: {sres.scenario.name}")
    ax.grid(True, axis="x", alpha=0.25)
    return _render(fig)
