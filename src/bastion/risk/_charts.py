"""Charts as SVG text: the loss exceedance curve against tolerance, and the tornado.

Rendered with matplotlib's object API on the Agg/SVG backends (no pyplot global state),
with a fixed hash salt and no date, so the same result gives byte-identical SVG: the page,
the report and the audit package can all show (and hash) the same chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bastion.core.charts import render_svg

if TYPE_CHECKING:
    from bastion.risk._model import TolerancePoint

__all__ = ["draw_lec", "draw_tornado"]

_MAX_CURVES = 8


def _render(fig: Any) -> str:
    return render_svg(fig, "bastion-risk")


def _money(x: float, _pos: object = None) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return f"{x:g}"


def _exceedance(losses: np.ndarray[Any, Any], grid: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    s = np.sort(losses)
    out: np.ndarray[Any, Any] = 1.0 - np.searchsorted(s, grid, side="right") / s.size
    return out


def draw_lec(
    port: np.ndarray[Any, Any],
    curves: Sequence[tuple[str, np.ndarray[Any, Any]]],
    tolerance: Sequence[TolerancePoint],
    *,
    currency: str,
    iterations: int,
    seed: int,
) -> str:
    """Loss exceedance curves: the portfolio's simulated annual losses ``port`` and, when
    there is more than one, each scenario's (``(name, losses)``, up to 8), with the
    tolerance curve."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    tol = list(tolerance)
    positive = port[port > 0]
    hi = max(float(port.max()), *(t.loss for t in tol), 1.0)
    lo = float(np.percentile(positive, 1)) if positive.size else 1.0
    lo = min([lo, *(t.loss for t in tol)]) / 2
    grid = np.geomspace(max(lo, 1e-6), hi * 1.05, 400)
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    ax.plot(grid, _exceedance(port, grid), color="#1f3b73", lw=2.2, label="Portfolio")
    if len(curves) > 1:
        for name, losses in curves[:_MAX_CURVES]:
            ax.plot(grid, _exceedance(losses, grid), lw=1, alpha=0.8, label=name)
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
    ax.set_xlabel(f"Annual loss ({currency})")
    ax.set_ylabel("Probability of exceeding")
    ax.set_title(f"Loss exceedance ({iterations:,} simulated years, seed {seed})")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper right", fontsize=8)
    return _render(fig)


def draw_tornado(
    base: float, bars: Sequence[tuple[str, float, float]], *, name: str, currency: str
) -> str:
    """Tornado of one scenario: ``base`` its mean annual loss, ``bars`` (input, mean annual
    loss with the input at P10, at P90) widest first (up to 15 drawn)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    bars = bars[:15][::-1]
    fig = Figure(figsize=(8, 0.45 * len(bars) + 1.6))
    ax = fig.add_subplot()
    y = np.arange(len(bars))
    for i, (_, at_low, at_high) in enumerate(bars):
        ax.barh(i, at_low - base, left=base, color="#2e86c1", height=0.6)
        ax.barh(i, at_high - base, left=base, color="#e67e22", height=0.6)
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, [b[0] for b in bars], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(f"Mean annual loss ({currency}); blue: input at P10, orange: at P90")
    ax.set_title(f"Sensitivity: {name}")
    ax.grid(True, axis="x", alpha=0.25)
    return _render(fig)
