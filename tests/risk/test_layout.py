"""The risk room's import graph has no circle (issue 13, section 5): ``_charts`` drew a
``SimulationResult`` and so imported ``_engine``, whose result methods imported
``_charts``. Now the charts draw plain numbers and the engine reads the result for them."""

from __future__ import annotations

import numpy as np

import bastion.risk
from bastion.risk import _charts, lec_svg, load_scenarios, simulate, tornado_svg
from tests._imports import cycles, import_graph
from tests.conftest import ROOT

SCEN = ROOT / "examples" / "credit-scoring" / "scenarios.yaml"


def test_finding_13_risk_import_graph_has_no_circle() -> None:
    edges = import_graph(bastion.risk)
    assert "bastion.risk._engine" in edges  # the graph covers the room
    assert "bastion.risk._charts" in edges["bastion.risk._engine"]
    assert cycles(edges) == []


def test_finding_13_charts_import_nothing_of_the_engine() -> None:
    edges = import_graph(bastion.risk)
    assert edges["bastion.risk._charts"] <= {"bastion.risk._model"}


def test_finding_13_charts_are_the_same_through_either_entry_point() -> None:
    res = simulate(load_scenarios(SCEN), iterations=2000, seed=7)
    assert lec_svg(res) == res.lec_svg() and res.lec_svg().count("<svg") == 1
    assert tornado_svg(res) == res.tornado_svg() and "<svg" in res.tornado_svg()
    # The drawing module takes plain numbers.
    svg = _charts.draw_tornado(10.0, [("tef", 5.0, 20.0)], name="s", currency="EUR")
    assert "Sensitivity: s" in svg and "EUR" in svg
    one = _charts.draw_lec(np.array([0.0, 1.0, 5.0]), [], [], currency="EUR", iterations=3, seed=0)
    assert "Loss exceedance (3 simulated years, seed 0)" in one
