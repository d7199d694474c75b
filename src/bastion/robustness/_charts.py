"""Charts as SVG text: accuracy under perturbation over epsilon, certified radii.

Same recipe as the risk room: matplotlib's object API on the SVG backend, a fixed hash
salt and no date, so one result always gives byte-identical SVG."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from bastion.core.charts import render_svg
from bastion.robustness.interface import CertificationResult, CurvePoint

__all__ = ["curve_svg", "radius_histogram_svg", "radius_svg"]


def _render(fig: Any) -> str:
    return render_svg(fig, "bastion-robustness")


def curve_svg(
    curve: Sequence[CurvePoint], clean_accuracy: float, *, title: str, valid: bool = True
) -> str:
    """Accuracy under perturbation (and attack success rate) against epsilon."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    eps = [0.0, *(p.eps for p in curve)]
    acc = [clean_accuracy, *(p.accuracy for p in curve)]
    ax.plot(eps, acc, marker="o", color="#1f4e79", label="accuracy under attack")
    ax.plot(
        [p.eps for p in curve],
        [p.success_rate for p in curve],
        marker="s",
        linestyle="--",
        color="#b03a2e",
        label="attack success rate",
    )
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("epsilon")
    ax.set_title(title if valid else f"{title} (NOT VALID: see the validity checks)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _render(fig)


def radius_svg(result: CertificationResult, bins: int = 10) -> str:
    """Histogram of certified radii of the correctly certified inputs."""
    return radius_histogram_svg(result.histogram(bins), result.sigma)


def radius_histogram_svg(h: Mapping[str, Sequence[float]], sigma: float) -> str:
    """The certified-radius histogram from its ``edges`` and ``counts`` (as evidence
    records it)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    edges, counts = list(h["edges"]), list(h["counts"])
    widths = [b - a for a, b in itertools.pairwise(edges)]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color="#1f4e79", edgecolor="white")
    ax.set_xlabel("certified L2 radius")
    ax.set_ylabel("inputs")
    ax.set_title(f"Randomized smoothing, sigma {sigma:g}: certified radii")
    ax.grid(True, axis="y", alpha=0.3)
    return _render(fig)
