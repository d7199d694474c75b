"""SVG text from a matplotlib figure, reproducibly: the rooms' charts (risk, robustness,
privacy budgets) render through here. matplotlib's object API on the SVG backend (no
pyplot global state), a fixed hash salt and no date, so the same figure gives
byte-identical SVG and the page, the report and the audit package can all show (and
hash) the same chart. matplotlib is imported only when a chart is drawn."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["render_svg"]


def render_svg(fig: Any, salt: str) -> str:
    """``fig`` (a ``matplotlib.figure.Figure``) as SVG text; ``salt`` fixes the ids."""
    import matplotlib as mpl
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()
