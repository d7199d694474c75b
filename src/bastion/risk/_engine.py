"""The FAIR Monte Carlo engine, vectorised over simulated years.

Per simulated year: TEF (or contact frequency x probability of action) and vulnerability
(direct, or P(TCap > RS) with RS drawn for the year) give the loss event frequency; the
number of loss events is Poisson; every event draws its own primary loss (sum of the six
forms) and, with probability SLEF, its own secondary loss. Annual loss is the compound sum,
taken with ``np.bincount`` over the events' year index: no Python loop over trials.

Poisson counts come from inversion (``_poisson_years``): one uniform per year, walked up
the Poisson CDF with the years still above it, so the k-th pass lists the years with at
least k events, which is the events' year index itself, without an ``np.repeat``.

Each scenario has its own random stream, derived from the seed and the scenario id (a
SeedSequence spawn key), so adding a scenario never changes another's numbers.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special  # type: ignore[import-untyped]

from bastion.core.errors import InputError
from bastion.risk._dist import _TABLE_MIN_DRAWS, Dist
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
    "lec_svg",
    "simulate",
    "simulate_scenario",
    "tornado",
    "tornado_svg",
    "what_if",
]

FloatArray = npt.NDArray[np.float64]
PERCENTILES = (10, 50, 90, 95, 99)
MAX_ITERATIONS = 10_000_000
# Poisson rates from here up are drawn by numpy's PTRS (constant time); below, by inversion.
_INVERSION_MAX = 10.0
# Inversion stops listing a year's events here; below _INVERSION_MAX, P(N >= 100) < 1e-60.
_MAX_EVENTS_INVERTED = 100
# A year stops once its uniform is within this of the Poisson CDF summed so far: below the
# rounding of that sum, so a uniform next to 1 cannot run on through underflowed terms.
_CDF_EPS = 2.0**-50
# Years per block of the simulation (see simulate_scenario).
_BLOCK = 65_536
#: A simulated year's loss event frequency above this is refused (its events alone would
#: need hundreds of MB); no FAIR scenario means ten million loss events in one year.
MAX_LOSS_EVENTS_PER_YEAR = 10_000_000
# Expected loss events simulated at once: above, a block is split into runs of years.
_EVENTS_PER_PASS = 1 << 22
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


def _percentile_sorted(ordered: FloatArray, q: float) -> float:
    """``np.percentile(x, q)`` (its default, linear method) from ``x`` already sorted: the
    same float, bit for bit (tests compare them), without a partition per call."""
    n = ordered.size
    virtual = (n - 1) * (q / 100.0)
    below = math.floor(virtual)
    g = virtual - below
    a = float(ordered[below])
    b = float(ordered[min(below + 1, n - 1)])
    diff = b - a
    # numpy's _lerp: from the nearer end, so that g = 1 gives b exactly.
    return b - diff * (1.0 - g) if g >= 0.5 else a + diff * g


def _summary(
    annual: FloatArray, counts: npt.NDArray[np.int64], thresholds: Sequence[float]
) -> LossSummary:
    # One sort (~4 ms a million years) serves every percentile, the maximum and the
    # exceedance counts; np.percentile would partition the array again.
    ordered = np.sort(annual)
    n = ordered.size
    p10, p50, p90, p95, p99 = (_percentile_sorted(ordered, q) for q in PERCENTILES)
    above = n - np.searchsorted(ordered, np.asarray(thresholds, dtype=np.float64), "right")
    return LossSummary(
        mean=float(annual.mean()),
        p10=p10,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        std=float(annual.std()),
        max=float(ordered[-1]),
        prob_any_loss=float(np.count_nonzero(counts) / counts.size),
        mean_events=float(counts.mean()),
        exceedance=tuple(
            (float(t), float(c / n)) for t, c in zip(thresholds, above.tolist(), strict=True)
        ),
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
        return lec_svg(self, tolerance)

    def tornado_svg(self, scenario_id: str | None = None) -> str:
        return tornado_svg(self, scenario_id)


# The charts (``_charts``) draw plain numbers; what to draw is read from the result here,
# so the chart module needs nothing of the engine (the import graph stays one-way).


def lec_svg(result: SimulationResult, tolerance: Sequence[TolerancePoint] | None = None) -> str:
    """Loss exceedance curves (portfolio and each scenario, up to 8) with the tolerance curve."""
    from bastion.risk._charts import draw_lec

    return draw_lec(
        result.portfolio_loss,
        [(r.scenario.name, r.annual_loss) for r in result.results],
        list(tolerance if tolerance is not None else result.scenarios.tolerance),
        currency=result.scenarios.currency,
        iterations=result.iterations,
        seed=result.seed,
    )


def tornado_svg(result: SimulationResult, scenario_id: str | None = None) -> str:
    """Tornado of one scenario (default: the one with the largest mean annual loss)."""
    from bastion.risk._charts import draw_tornado

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
    return draw_tornado(
        base,
        [(b.input, b.ale_at_low, b.ale_at_high) for b in bars],
        name=sres.scenario.name,
        currency=result.scenarios.currency,
    )


def _stream(seed: int, sid: str) -> np.random.Generator:
    key = zlib.crc32(sid.encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))


def _vuln_tc(tcap: Dist, rs: FloatArray) -> FloatArray:
    return tcap.sf(rs)


def _lef(
    s: Scenario, rng: np.random.Generator, n: int, u_freq: FloatArray | None, table: bool
) -> FloatArray:
    if s.tef is not None:
        tef = s.tef.ppf(u_freq) if u_freq is not None else s.tef.sample(rng, n, table=table)
    else:
        assert s.contact_frequency is not None
        assert s.probability_of_action is not None
        cf = (
            s.contact_frequency.ppf(u_freq)
            if u_freq is not None
            else s.contact_frequency.sample(rng, n, table=table)
        )
        tef = cf * s.probability_of_action.sample(rng, n, table=table)
    if s.vulnerability is not None:
        vuln = s.vulnerability.sample(rng, n, table=table)
    else:
        assert s.threat_capability is not None
        assert s.resistance_strength is not None
        vuln = _vuln_tc(s.threat_capability, s.resistance_strength.sample(rng, n, table=table))
    return tef * vuln


def _poisson_years(rng: np.random.Generator, lam: FloatArray) -> npt.NDArray[np.intp]:
    """Poisson(lam[y]) loss events for every year y, returned as the events' year index
    (year y listed once per event). Exact: inversion of the Poisson CDF, one uniform a year.

    Pass k keeps the years whose uniform lies above P(N <= k - 1), that is the years with
    at least k events; the concatenated passes list every event once. Rates from
    ``_INVERSION_MAX`` up go to numpy's PTRS sampler (inversion would take ~lam passes).
    """
    parts: list[npt.NDArray[np.intp]] = []
    years = np.arange(lam.size)
    if lam.size and float(lam.max()) >= _INVERSION_MAX:
        big = lam >= _INVERSION_MAX
        by = years[big]
        parts.append(np.repeat(by, rng.poisson(lam[by])))
        years = years[~big]
        lam = lam[years]
    u: FloatArray = rng.random(lam.size)
    p = np.exp(-lam)  # P(N = 0)
    u -= p  # u - P(N <= k), while the year is kept
    sel = np.flatnonzero(u > _CDF_EPS)
    # (mode="clip" below: the indices come from flatnonzero, so in range; it skips a check.)
    idx = np.take(years, sel, mode="clip")
    rest, p, lam = (np.take(a, sel, mode="clip") for a in (u, p, lam))
    k = 1
    while idx.size:
        parts.append(idx)
        if k == _MAX_EVENTS_INVERTED:  # pragma: no cover - P < 1e-60 a year below the cut
            break
        p *= lam
        p *= 1.0 / k  # P(N = k)
        rest -= p
        sel = np.flatnonzero(rest > _CDF_EPS)
        idx = np.take(idx, sel, mode="clip")
        rest, p, lam = (np.take(a, sel, mode="clip") for a in (rest, p, lam))
        k += 1
    if not parts:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _sum_losses(
    forms: Sequence[tuple[Any, Dist]], rng: np.random.Generator, k: int, table: bool
) -> FloatArray:
    """Each of ``k`` events' loss: the sum of one draw per form."""
    if not forms:
        return np.zeros(k, dtype=np.float64)
    out = forms[0][1].sample(rng, k, table=table)
    for _form, d in forms[1:]:
        out += d.sample(rng, k, table=table)
    return out


def _simulate_block(
    s: Scenario, rng: np.random.Generator, n: int, u_freq: FloatArray | None, table: bool
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Annual loss and loss-event count of ``n`` consecutive years; ``table``: draw PERT
    from the exact sampling tables (see ``Dist.sample``)."""
    lef = _lef(s, rng, n, u_freq, table)
    top = float(lef.max())
    if not top <= MAX_LOSS_EVENTS_PER_YEAR:  # also NaN and infinity
        raise InputError(
            f"scenario '{s.id}': a simulated year has a loss event frequency of {top:.3g}, "
            f"above the engine's {MAX_LOSS_EVENTS_PER_YEAR:,} events a year; fix: narrow "
            "the frequency distributions (a lognormal's p95), or model fewer, larger events"
        )
    expected = float(lef.sum())
    if expected <= _EVENTS_PER_PASS:
        return _simulate_events(s, rng, lef, table)
    # Many events: the block's years in runs of about _EVENTS_PER_PASS expected events,
    # so the per-event arrays stay bounded (a run can be one year with more).
    cuts = np.searchsorted(
        np.cumsum(lef), np.arange(1, math.ceil(expected / _EVENTS_PER_PASS)) * _EVENTS_PER_PASS
    )
    bounds = [0, *sorted({int(c) + 1 for c in cuts if 0 < int(c) + 1 < n}), n]
    annual = np.empty(n, dtype=np.float64)
    counts = np.empty(n, dtype=np.intp)
    for lo, hi in itertools.pairwise(bounds):
        annual[lo:hi], counts[lo:hi] = _simulate_events(s, rng, lef[lo:hi], table)
    return annual, counts


def _simulate_events(
    s: Scenario, rng: np.random.Generator, lef: FloatArray, table: bool
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The loss events of years with these loss event frequencies, and their losses."""
    n = lef.size
    year = _poisson_years(rng, lef)  # one entry per loss event: the year it falls in
    counts = np.bincount(year, minlength=n)
    m = year.size
    primary = _sum_losses(s.primary_loss, rng, m, table)
    # (bincount with float weights is float64 already: asarray only tells the type.)
    annual = np.asarray(np.bincount(year, weights=primary, minlength=n), dtype=np.float64)
    if s.secondary_frequency is not None and m:
        slef = s.secondary_frequency.sample(rng, n, table=table)  # per year
        u = rng.random(m)
        hit = np.flatnonzero(u < np.take(slef, year, mode="clip"))  # per event
        sec = _sum_losses(s.secondary_loss, rng, hit.size, table)
        annual += np.bincount(np.take(year, hit, mode="clip"), weights=sec, minlength=n)
    return annual, counts


def simulate_scenario(
    s: Scenario,
    n: int,
    seed: int,
    thresholds: Sequence[float] = (),
    u_freq: FloatArray | None = None,
) -> ScenarioResult:
    """Simulate ``n`` years of one scenario; ``u_freq`` are copula uniforms for its frequency.

    Years are simulated in blocks of ``_BLOCK`` from the scenario's one stream: each
    block's arrays stay in the CPU's cache, which is about a third faster than whole-run
    arrays; the blocks are independent years, so the block size changes which draws a
    year gets, not their distribution."""
    rng = _stream(seed, s.id)
    # PERT tables (built once per shape, ~1.6 ms) for runs long enough to repay them; one
    # decision for the whole scenario, so every block and event draw uses the same method.
    table = n >= _TABLE_MIN_DRAWS
    annual = np.empty(n, dtype=np.float64)
    counts = np.empty(n, dtype=np.int64)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        a, c = _simulate_block(s, rng, hi - lo, None if u_freq is None else u_freq[lo:hi], table)
        annual[lo:hi] = a
        counts[lo:hi] = c
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
