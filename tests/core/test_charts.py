"""core/charts.render_svg: the one reproducible SVG renderer (issue 13 tidy-house: the risk,
robustness and privacy rooms each carried a copy of it)."""

from __future__ import annotations

from pathlib import Path

import bastion
from bastion.core.charts import render_svg

SRC = Path(bastion.__file__).resolve().parent


def _figure() -> object:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [1, 0, 1], label="x")
    return fig


def test_finding_13_render_svg_is_byte_identical_and_dateless() -> None:
    a, b = render_svg(_figure(), "bastion-test"), render_svg(_figure(), "bastion-test")
    assert a == b and a.count("<svg") == 1 and "<dc:date>" not in a
    assert render_svg(_figure(), "other-salt") != a  # the salt fixes the ids


def test_finding_13_only_core_sets_the_svg_hash_salt() -> None:
    setters = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "svg.hashsalt" in p.read_text(encoding="utf-8")
    ]
    assert setters == ["core/charts.py"]
