"""The FAIR Monte Carlo engine, vectorised over simulated years.

Per simulated year: TEF (or contact frequency x probability of action) and vulnerability
(direct, or P(TCap > RS) with RS drawn for the year) give the loss event frequency; the
number of loss events is Poisson; every event draws its own primary loss (sum of the six
forms) and, with probability SLEF, its own secondary loss. Annual loss is the compound sum,
taken with ``np.bincount`` over the events' year index: no Python loop over trials.

Each scenario has its own random stream, derived from the seed and the scenario id (a
SeedSequence spawn key), so adding a scenario never changes another's numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special  # type: ignore[import-untyped]

from bastion.core.errors import InputError
from bastion.risk._dist import Dist
from bastion.risk._model import (
    Control,
    Scenario,
    ScenarioSet,
    TolerancePoint,
    apply_control,
)

__all__ = [
    "PERCENTILES",
    "LossSummary",
    "ScenarioResult",
    "SimulationResult",
    "TornadoBar",
    "WhatIfResult",
    "expected_annual_loss",
    "simulate",
    "simulate_scenario",
    "tornado",
    "what_if",
]

FloatArray = npt.NDArray[np.float64]
PERCENTILES = (10, 50, 90, 95, 99)
MAX_ITERATIONS = 10_000_000
_GRID: FloatArray = (
    np.arange(1000, dtype=np.float64) + 0.5
) / 1000.0  # quadrature nodes for P(TCap > RS)


@dataclass(frozen=True)
class LossSummary:
    """Annualized loss exposure statistics of one scenario or of the portfolio."""

    mean: float
    p10: float
    p50: float
    p90: float
    p95: float
    p99: float
    std: float
    max: float
    prob_any_loss: float
    mean_events: float
    exceedance: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "p10": self.p10,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "p99": self.p99,
            "std": self.std,
            "max": self.max,
            "prob_any_loss": self.prob_any_loss,
            "mean_loss_events": self.mean_events,
            "prob_exceed": {f"{a:g}": p for a, p in self.exceedance},
        }


def _summary(
    annual: FloatArray, counts: npt.NDArray[np.int64], thresholds: Sequence[float]
) -> LossSummary:
    p10, p50, p90, p95, p99 = (float(x) for x in np.percentile(annual, PERCENTILES))
    return LossSummary(
        mean=float(annual.mean()),
        p10=p10,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        std=float(annual.std()),
        max=float(annual.max()),
        prob_any_loss=float(np.count_nonzero(counts) / counts.size),
        mean_events=float(counts.mean()),
        exceedance=tuple((float(t), float(np.mean(annual > t))) for t in thresholds),
    )


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    annual_loss: FloatArray = field(repr=False)
    loss_events: npt.NDArray[np.int64] = field(repr=False)
    summary: LossSummary
    expected: float  # closed-form mean annual loss, for comparison

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.scenario.id,
            "name": self.scenario.name,
            "risk": self.scenario.risk,
            "threats": list(self.scenario.threats),
            "expected_mean": self.expected,
            **self.summary.to_dict(),
        }


@dataclass(frozen=True)
class SimulationResult:
    """Every scenario's simulated years and the portfolio (their per-year sum)."""

    scenarios: ScenarioSet
    iterations: int
    seed: int
    results: tuple[ScenarioResult, ...]
    portfolio_loss: FloatArray = field(repr=False)
    portfolio: LossSummary

    def result(self, sid: str) -> ScenarioResult:
        for r in self.results:
            if r.scenario.id == sid:
                return r
        raise InputError(f"{self.scenarios.source}: no scenario '{sid}'")

    def tolerance_breaches(self) -> list[dict[str, float]]:
        """Tolerance points the portfolio's exceedance curve lies above."""
        out = []
        for t in self.scenarios.tolerance:
            p = float(np.mean(self.portfolio_loss > t.loss))
            if p > t.probability:
                out.append({"loss": t.loss, "tolerated": t.probability, "simulated": p})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.scenarios.source,
            "currency": self.scenarios.currency,
            "iterations": self.iterations,
            "seed": self.seed,
            "scenarios": [r.to_dict() for r in self.results],
            "portfolio": self.portfolio.to_dict(),
            "tolerance": [
                {"loss": t.loss, "probability": t.probability} for t in self.scenarios.tolerance
            ],
            "tolerance_breaches": self.tolerance_breaches(),
        }

    def lec_svg(self, tolerance: Sequence[TolerancePoint] | None = None) -> str:
        from bastion.risk._charts import lec_svg

        return lec_svg(self, tolerance)

    def tornado_svg(self, scenario_id: str | None = None) -> str:
        from bastion.risk._charts import tornado_svg

        return tornado_svg(self, scenario_id)


def _stream(seed: int, sid: str) -> np.random.Generator:
    key = zlib.crc32(sid.encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))


def _vuln_tc(tcap: Dist, rs: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 - tcap.cdf(rs)
    return out


def _lef(s: Scenario, rng: np.random.Generator, n: int, u_freq: FloatArray | None) -> FloatArray:
    if s.tef is not None:
        tef = s.tef.ppf(u_freq) if u_freq is not None else s.tef.sample(rng, n)
    else:
        assert s.contact_frequency is not None
        assert s.probability_of_action is not None
        cf = (
            s.contact_frequency.ppf(u_freq)
            if u_freq is not None
            else s.contact_frequency.sample(rng, n)
        )
        tef = cf * s.probability_of_action.sample(rng, n)
    if s.vulnerability is not None:
        vuln = s.vulnerability.sample(rng, n)
    else:
        assert s.threat_capability is not None
        assert s.resistance_strength is not None
        vuln = _vuln_tc(s.threat_capability, s.resistance_strength.sample(rng, n))
    return tef * vuln


def simulate_scenario(
    s: Scenario,
    n: int,
    seed: int,
    thresholds: Sequence[float] = (),
    u_freq: FloatArray | None = None,
) -> ScenarioResult:
    """Simulate ``n`` years of one scenario; ``u_freq`` are copula uniforms for its frequency."""
    rng = _stream(seed, s.id)
    lef = _lef(s, rng, n, u_freq)
    counts = rng.poisson(lef).astype(np.int64)
    m = int(counts.sum())
    event_loss = np.zeros(m, dtype=np.float64)
    for _form, d in s.primary_loss:
        event_loss += d.sample(rng, m)
    if s.secondary_frequency is not None and m:
        slef = np.repeat(s.secondary_frequency.sample(rng, n), counts)
        hit = rng.random(m) < slef
        k = int(np.count_nonzero(hit))
        sec = np.zeros(k, dtype=np.float64)
        for _form, d in s.secondary_loss:
            sec += d.sample(rng, k)
        event_loss[hit] += sec
    year = np.repeat(np.arange(n), counts)
    annual = np.bincount(year, weights=event_loss, minlength=n).astype(np.float64)
    return ScenarioResult(
        s, annual, counts, _summary(annual, counts, thresholds), expected_annual_loss(s)
    )


def _copula_uniforms(ss: ScenarioSet, n: int, seed: int) -> dict[str, FloatArray]:
    if ss.correlation is None:
        return {}
    ids, mat = ss.correlation
    chol = np.linalg.cholesky(np.array(mat))
    rng = _stream(seed, "\x00copula")
    z = rng.standard_normal((n, len(ids))) @ chol.T
    u = special.ndtr(z)
    # Keep uniforms strictly inside (0, 1) so quantile functions stay finite.
    np.clip(u, 1e-12, 1 - 1e-12, out=u)
    return {sid: np.ascontiguousarray(u[:, i]) for i, sid in enumerate(ids)}


def simulate(
    scenarios: ScenarioSet,
    *,
    iterations: int = 100_000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate every scenario for ``iterations`` years with ``seed``; roll up the portfolio."""
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InputError(f"iterations {iterations} out of range; fix: use 1 to {MAX_ITERATIONS}")
    if seed < 0:
        raise InputError(f"seed {seed} is negative; fix: use a seed >= 0")
    uni = _copula_uniforms(scenarios, iterations, seed)
    results = []
    total = np.zeros(iterations, dtype=np.float64)
    total_events = np.zeros(iterations, dtype=np.int64)
    k = len(scenarios.scenarios)
    for i, s in enumerate(scenarios.scenarios):
        r = simulate_scenario(s, iterations, seed, scenarios.thresholds, uni.get(s.id))
        total += r.annual_loss
        total_events += r.loss_events
        results.append(r)
        if progress is not None:
            progress(i + 1, k)
    # One scenario: the portfolio is that scenario; do not sort a million years twice.
    port = results[0].summary if k == 1 else _summary(total, total_events, scenarios.thresholds)
    return SimulationResult(scenarios, iterations, seed, tuple(results), total, port)


# -- closed forms, sensitivity ------------------------------------------------------------


def _vuln_mean(s: Scenario, override: Mapping[str, float]) -> float:
    if s.vulnerability is not None:
        return override.get("vulnerability", s.vulnerability.mean())
    tc, rs = s.threat_capability, s.resistance_strength
    assert tc is not None
    assert rs is not None
    if "resistance_strength" in override:
        return float(_vuln_tc(tc, np.array([override["resistance_strength"]]))[0])
    if "threat_capability" in override:
        # P(TCap > RS) with TCap held at a value: the share of RS below it.
        return float(rs.cdf(np.array([override["threat_capability"]]))[0])
    if rs.degenerate:
        return float(_vuln_tc(tc, np.array([rs.a]))[0])
    return float(_vuln_tc(tc, rs.ppf(_GRID)).mean())


def expected_annual_loss(s: Scenario, override: Mapping[str, float] | None = None) -> float:
    """E[annual loss] = E[LEF] x (E[primary] + E[SLEF] x E[secondary magnitude]).

    Exact for the engine's model (inputs independent within a year); ``override`` holds
    inputs at given values, which is what the tornado swings.
    """
    o = override or {}

    def m(name: str, d: Dist | None) -> float:
        return 0.0 if d is None else o.get(name, d.mean())

    if s.tef is not None:
        tef = m("tef", s.tef)
    else:
        tef = m("contact_frequency", s.contact_frequency) * m(
            "probability_of_action", s.probability_of_action
        )
    primary = sum(m(f"primary_loss.{f.value}", d) for f, d in s.primary_loss)
    secondary = m("secondary_loss.frequency", s.secondary_frequency) * sum(
        m(f"secondary_loss.magnitude.{f.value}", d) for f, d in s.secondary_loss
    )
    return tef * _vuln_mean(s, o) * (primary + secondary)


@dataclass(frozen=True)
class TornadoBar:
    input: str
    low_value: float
    high_value: float
    ale_at_low: float
    ale_at_high: float

    @property
    def swing(self) -> float:
        return abs(self.ale_at_high - self.ale_at_low)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "p10": self.low_value,
            "p90": self.high_value,
            "ale_at_p10": self.ale_at_low,
            "ale_at_p90": self.ale_at_high,
            "swing": self.swing,
        }


def tornado(s: Scenario) -> tuple[float, list[TornadoBar]]:
    """Swing each input between its P10 and P90, others at their means; widest first."""
    base = expected_annual_loss(s)
    bars = []
    for name, d in s.inputs():
        lo, hi = d.quantile(0.10), d.quantile(0.90)
        bars.append(
            TornadoBar(
                name,
                lo,
                hi,
                expected_annual_loss(s, {name: lo}),
                expected_annual_loss(s, {name: hi}),
            )
        )
    bars.sort(key=lambda b: (-b.swing, b.input))
    return base, bars


# -- what-if ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfResult:
    control: Control
    before: SimulationResult
    after: SimulationResult

    @property
    def reduction(self) -> float:
        return self.before.portfolio.mean - self.after.portfolio.mean

    @property
    def roi(self) -> float:
        """(reduction in mean annual loss - control cost) / control cost."""
        return (self.reduction - self.control.annual_cost) / self.control.annual_cost

    def to_dict(self) -> dict[str, Any]:
        def row(b: LossSummary, a: LossSummary) -> dict[str, Any]:
            return {
                "before": {k: getattr(b, k) for k in ("mean", "p50", "p90", "p95", "p99")},
                "after": {k: getattr(a, k) for k in ("mean", "p50", "p90", "p95", "p99")},
            }

        return {
            "control": {
                "id": self.control.id,
                "name": self.control.name,
                "annual_cost": self.control.annual_cost,
            },
            "currency": self.before.scenarios.currency,
            "iterations": self.before.iterations,
            "seed": self.before.seed,
            "portfolio": row(self.before.portfolio, self.after.portfolio),
            "scenarios": {
                b.scenario.id: row(b.summary, a.summary)
                for b, a in zip(self.before.results, self.after.results, strict=True)
            },
            "reduction_in_mean_ale": self.reduction,
            "roi": self.roi,
        }


def what_if(
    scenarios: ScenarioSet, control: Control, *, iterations: int = 100_000, seed: int = 0
) -> WhatIfResult:
    """Before and after the control, on common random numbers (same seed, same streams)."""
    before = simulate(scenarios, iterations=iterations, seed=seed)
    after = simulate(apply_control(scenarios, control), iterations=iterations, seed=seed)
    return WhatIfResult(control, before, after)
