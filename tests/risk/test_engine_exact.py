"""Issue 8, section 3: the faster FAIR engine keeps its distributions exact.

The engine now samples beta-PERT from equal-probability tables (a flat part plus a
rejection-sampled residual per interval), counts loss events by inverting the Poisson CDF
(numpy's PTRS from rate 10 up) and simulates years in blocks. These tests hold each piece
to the exact distribution (scipy's), tails included, and the engine to its closed forms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special, stats

from bastion.core.errors import InputError
from bastion.risk import Dist, expected_annual_loss, parse_scenarios, simulate
from bastion.risk import _engine as engine
from bastion.risk._dist import _SAMPLE_TABLE, _TABLE_MIN_DRAWS, _beta_table

PERTS = [
    (1.0, 4.0, 12.0, 4.0),  # the benchmark's TEF
    (20.0, 60.0, 95.0, 4.0),
    (0.0, 0.0, 1.0, 4.0),  # mode at min: density largest at the left end
    (0.0, 1.0, 1.0, 4.0),  # mode at max
    (10.0, 40.0, 200.0, 100.0),  # the sharpest gamma allowed
    (0.0, 0.5, 1.0, 0.01),  # almost uniform
    (5.0, 6.0, 1e9, 4.0),  # a wide, very skewed range
]


def _beta(d: Dist) -> Any:
    al, be = d._pert_ab()
    return stats.beta(al, be, loc=d.a, scale=d.c - d.a)


def _tails_ok(x: np.ndarray, ref: Any, q: float = 0.001) -> None:
    n = x.size
    sd = math.sqrt(n * q * (1 - q))
    for count in (np.count_nonzero(x > ref.ppf(1 - q)), np.count_nonzero(x < ref.ppf(q))):
        assert abs(count - n * q) < 5 * sd


@pytest.mark.parametrize(("lo", "mode", "hi", "gamma"), PERTS)
def test_issue8_3_pert_sampler_is_the_exact_beta_including_tails(
    lo: float, mode: float, hi: float, gamma: float
) -> None:
    d = Dist.pert(lo, mode, hi, gamma)
    ref = _beta(d)
    x = d.sample(np.random.default_rng(8), 400_000)
    assert x.min() >= lo and x.max() <= hi
    # Kolmogorov-Smirnov against the exact beta CDF, and the 0.1% tails by count. (An
    # interpolated quantile table passes these; the next test is the one it fails.)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-4
    _tails_ok(x, ref)
    sem = x.std() / math.sqrt(x.size)
    assert abs(x.mean() - d.mean()) < 5 * sem


@pytest.mark.parametrize(("lo", "mode", "hi", "gamma"), [PERTS[0], PERTS[4]])
def test_issue8_3_small_draws_use_the_gamma_ratio_and_are_exact_too(
    lo: float, mode: float, hi: float, gamma: float
) -> None:
    """Below _TABLE_MIN_DRAWS no table is built (a request of many small scenarios does not
    pay for tables); that path is the same beta. The engine's choice is per scenario."""
    d = Dist.pert(lo, mode, hi, gamma)
    ref = _beta(d)
    rng = np.random.default_rng(80)
    size = _TABLE_MIN_DRAWS - 1
    x = np.concatenate([d.sample(rng, size) for _ in range(400_000 // size + 1)])
    assert x.min() >= lo and x.max() <= hi
    assert stats.kstest(x, ref.cdf).pvalue > 1e-4
    _tails_ok(x, ref)
    forced = d.sample(rng, 400_000, table=False)
    assert stats.kstest(forced, ref.cdf).pvalue > 1e-4
    _tails_ok(forced, ref)
    # Forced the other way, a small draw comes from the table: the same beta.
    few = np.concatenate([d.sample(rng, 1000, table=True) for _ in range(400)])
    assert stats.kstest(few, ref.cdf).pvalue > 1e-4
    _tails_ok(few, ref)


def test_issue8_3_table_choice_is_per_scenario_run_not_per_draw() -> None:
    """A long run samples every PERT from tables (even a block's few secondary events), a
    short run none: the engine's numbers depend on the seed and the run, not on how many
    events a block happened to draw."""
    from bastion.risk import _dist

    doc = _scenario(
        tef={"dist": "pert", "min": 0.001, "mode": 0.002, "max": 0.004},
        vulnerability=1,
        primary_loss={"response": {"dist": "pert", "min": 1, "mode": 2, "max": 9}},
    )
    ss = parse_scenarios(doc, "t.yaml")
    _dist._beta_table.cache_clear()
    simulate(ss, iterations=_TABLE_MIN_DRAWS - 1, seed=1)
    assert _dist._beta_table.cache_info().currsize == 0
    simulate(ss, iterations=_TABLE_MIN_DRAWS, seed=1)  # ~ 80 events: tables still
    assert _dist._beta_table.cache_info().currsize == 2


@pytest.mark.parametrize(
    ("lo", "mode", "hi", "gamma"),
    [PERTS[0], PERTS[2], PERTS[4], (0.0, 1.0, 1.0, 100.0), (0.0, 0.0, 1.0, 100.0)],
)
def test_issue8_3_first_and_last_table_intervals_are_exact(
    lo: float, mode: float, hi: float, gamma: float
) -> None:
    """The outermost table interval of each tail (1/1024 of the mass), drawn mostly by
    the rejection path: the share of draws in it, and their distribution inside it,
    against scipy's exact beta. A quantile table of the same size with linear
    interpolation fails this where the density goes to 0 (KS p below 1e-30)."""
    d = Dist.pert(lo, mode, hi, gamma)
    ref = _beta(d)
    n = 2_000_000
    x = d.sample(np.random.default_rng(81), n)
    q = 1.0 / _SAMPLE_TABLE
    sd = math.sqrt(n * q * (1 - q))
    left_end, right_start = ref.ppf(q), ref.ppf(1 - q)
    left, right = x[x < left_end], x[x > right_start]
    assert abs(left.size - n * q) < 5 * sd and abs(right.size - n * q) < 5 * sd
    assert stats.kstest(left, lambda v: ref.cdf(v) / q).pvalue > 1e-4
    assert stats.kstest(right, lambda v: (ref.cdf(v) - (1 - q)) / q).pvalue > 1e-4


@pytest.mark.parametrize(("lo", "mode", "hi", "gamma"), [*PERTS, (0.0, 1.0, 1.0, 100.0)])
def test_issue8_3_rejection_rounds_leave_a_value_undrawn_below_e_minus_2(
    lo: float, mode: float, hi: float, gamma: float
) -> None:
    """Each interval's candidates per round cover its acceptance (as low as 1/101 where
    the density goes to 0 like z^100): (1 - acceptance)^candidates <= e^-2, measured."""
    d = Dist.pert(lo, mode, hi, gamma)
    al, be = d._pert_ab()
    t = _beta_table(al, be)
    rng = np.random.default_rng(82)
    for i in sorted({0, 1, _SAMPLE_TABLE // 2, _SAMPLE_TABLE - 2, _SAMPLE_TABLE - 1}):
        if t.accept[i] >= 1.0 or t.hi[i] <= t.lo[i]:
            continue
        z = t.x0[i] + t.width[i] * rng.random(200_000)
        accepted = np.mean(rng.random(z.size) * (t.hi[i] - t.lo[i]) <= t.density(z) - t.lo[i])
        assert (1.0 - accepted) ** int(t.proposals[i]) <= math.exp(-2.0) * 1.05


def test_issue8_3_beta_table_cuts_at_exact_quantiles() -> None:
    d = Dist.pert(1.0, 4.0, 12.0)
    al, be = d._pert_ab()
    t = _beta_table(al, be)
    probs = np.arange(_SAMPLE_TABLE) / _SAMPLE_TABLE
    assert np.allclose(special.betainc(al, be, t.x0), probs, rtol=0, atol=1e-13)
    # The flat part never claims more than the interval holds.
    assert float(t.accept.max()) <= 1.0 and float(t.accept.min()) >= 0.0
    # Interior intervals are nearly all flat part: the rejection path is rare.
    assert float(t.accept[1:-1].mean()) > 0.99


@pytest.mark.parametrize(
    "d",
    [Dist.lognormal(2000, 50_000), Dist.lognormal(0.5, 6), Dist.uniform(1000, 9000)],
    ids=["lognormal-money", "lognormal-rate", "uniform"],
)
def test_issue8_3_lognormal_and_uniform_are_exact(d: Dist) -> None:
    x = d.sample(np.random.default_rng(9), 400_000)
    if d.kind.value == "lognormal":
        mu, sigma = d._mu_sigma()
        ref = stats.lognorm(s=sigma, scale=math.exp(mu))
        assert ref.ppf(0.05) == pytest.approx(d.a) and ref.ppf(0.95) == pytest.approx(d.b)
    else:
        ref = stats.uniform(loc=d.a, scale=d.b - d.a)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-4
    _tails_ok(x, ref)


def test_issue8_3_survival_table_is_one_minus_cdf() -> None:
    d = Dist.pert(20, 55, 90)
    x = np.linspace(0, 120, 50_001)  # below min, inside, above max
    assert np.allclose(d.sf(x), 1.0 - d.cdf(x), rtol=0, atol=1e-12)
    al, be = d._pert_ab()
    exact = special.betaincc(al, be, np.clip((x - 20) / 70, 0, 1))
    assert np.max(np.abs(d.sf(x) - exact)) < 1e-6


def _scenario(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "s", "primary_loss": {"response": 1000}}
    base.update(fields)
    return {"kind": "RiskScenarios", "scenarios": [base]}


def test_issue8_3_closed_forms_mean_is_lambda_times_magnitude_and_loss_free_is_exp() -> None:
    """Constant vulnerability, constant TEF: N ~ Poisson(lambda), lambda = 3 x 0.5, so the
    mean annual loss is lambda x E[magnitude] and the share of loss-free years exp(-lambda);
    the counts follow the Poisson pmf."""
    doc = _scenario(
        tef=3,
        vulnerability=0.5,
        primary_loss={
            "productivity": {"dist": "pert", "min": 1000, "mode": 5000, "max": 40000},
            "response": {"dist": "lognormal", "p5": 2000, "p95": 50000},
        },
        secondary_loss={
            "frequency": 0.3,
            "magnitude": {"fines_judgments": {"dist": "uniform", "min": 0, "max": 200000}},
        },
    )
    ss = parse_scenarios(doc, "closed.yaml")
    n = 400_000
    r = simulate(ss, iterations=n, seed=83).results[0]
    lam = 1.5
    magnitude = (1000 + 4 * 5000 + 40000) / 6 + Dist.lognormal(2000, 50000).mean() + 0.3 * 1e5
    assert expected_annual_loss(ss.scenarios[0]) == pytest.approx(lam * magnitude)
    sem = r.annual_loss.std() / math.sqrt(n)
    assert abs(r.summary.mean - lam * magnitude) < 4 * sem
    p0 = math.exp(-lam)
    se0 = math.sqrt(p0 * (1 - p0) / n)
    assert abs((1 - r.summary.prob_any_loss) - p0) < 4 * se0
    assert abs(float(np.mean(r.annual_loss == 0)) - p0) < 4 * se0
    observed = np.bincount(r.loss_events, minlength=12)[:12]
    expected = stats.poisson(lam).pmf(np.arange(12)) * n
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    assert chi2 < stats.chi2(11).ppf(0.9999)


def test_issue8_3_loss_free_share_with_a_pert_frequency() -> None:
    """TEF drawn per year: P(no loss event) = E[exp(-TEF x V)], integrated exactly."""
    tef = Dist.pert(1, 4, 12)
    ss = parse_scenarios(
        _scenario(tef={"dist": "pert", "min": 1, "mode": 4, "max": 12}, vulnerability=0.4),
        "p.yaml",
    )
    n = 400_000
    r = simulate(ss, iterations=n, seed=84).results[0]
    ref = _beta(tef)
    p0 = integrate.quad(lambda t: math.exp(-0.4 * t) * ref.pdf(t), 1, 12)[0]
    se0 = math.sqrt(p0 * (1 - p0) / n)
    assert abs((1 - r.summary.prob_any_loss) - p0) < 4 * se0
    assert abs(r.summary.mean_events - 0.4 * tef.mean()) < 4 * math.sqrt((r.loss_events.var()) / n)


@pytest.mark.parametrize("lam", [0.02, 2.0, 9.5, 10.5, 40.0])
def test_issue8_3_poisson_counts_on_both_sides_of_the_inversion_cut(lam: float) -> None:
    """Rates below 10 are inverted, from 10 up drawn by PTRS: both give Poisson(lam)."""
    n = 200_000
    year = engine._poisson_years(np.random.default_rng(85), np.full(n, lam))
    counts = np.bincount(year, minlength=n)
    assert counts.size == n
    top = int(lam + 6 * math.sqrt(lam) + 6)
    observed = np.bincount(counts, minlength=top + 1)[: top + 1].astype(np.float64)
    observed[top] += np.count_nonzero(counts > top)
    pmf = stats.poisson(lam).pmf(np.arange(top + 1))
    pmf[top] += stats.poisson(lam).sf(top)
    expected = pmf * n
    keep = expected > 5  # the chi-square needs populated cells: pool the rest
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs[-2] += obs[-1]
        exp[-2] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    assert chi2 < stats.chi2(max(obs.size - 1, 1)).ppf(0.9999)


def test_issue8_3_mixed_rates_are_split_and_listed_once_per_event() -> None:
    rng = np.random.default_rng(86)
    lam = rng.uniform(0, 20, 300_000)  # half inverted, half PTRS
    year = engine._poisson_years(rng, lam)
    counts = np.bincount(year, minlength=lam.size)
    # E[N] = E[lam] = 10, Var[N] = E[lam] + Var[lam] = 10 + 400/12.
    assert abs(counts.mean() - 10.0) < 4 * math.sqrt((10 + 400 / 12) / lam.size)
    assert counts.var() == pytest.approx(10 + 400 / 12, rel=0.02)
    for part in (lam < 10, lam >= 10):
        sub = counts[part]
        assert abs(sub.mean() - lam[part].mean()) < 4 * math.sqrt(sub.var() / sub.size)
    assert engine._poisson_years(rng, np.zeros(5)).size == 0


@pytest.mark.parametrize("n", [1, 2, 4097, engine._BLOCK, engine._BLOCK + 1, 3 * engine._BLOCK - 7])
def test_issue8_3_years_in_blocks_keep_every_year(n: int) -> None:
    ss = parse_scenarios(_scenario(tef=2, vulnerability=0.5), "b.yaml")
    r = simulate(ss, iterations=n, seed=87).results[0]
    assert r.annual_loss.shape == (n,) and r.loss_events.shape == (n,)
    assert np.array_equal(r.annual_loss, r.loss_events * 1000.0)
    if n > 1000:
        assert abs(r.loss_events.mean() - 1.0) < 5 / math.sqrt(n)
    # Same seed, same numbers; the first block does not depend on the run's length.
    again = simulate(ss, iterations=n, seed=87).results[0]
    assert np.array_equal(again.annual_loss, r.annual_loss)
    if n > engine._BLOCK:
        short = simulate(ss, iterations=engine._BLOCK, seed=87).results[0]
        assert np.array_equal(short.annual_loss, r.annual_loss[: engine._BLOCK])


def test_issue8_3_copula_path_across_blocks_keeps_frequency_exact() -> None:
    pert = {"dist": "pert", "min": 0.5, "mode": 2, "max": 8}
    doc = {
        "scenarios": [
            {"id": "a", "tef": pert, "vulnerability": 1, "primary_loss": {"response": 1}},
            {"id": "b", "tef": pert, "vulnerability": 1, "primary_loss": {"response": 1}},
        ],
        "correlation": {"scenarios": ["a", "b"], "matrix": [[1, 0.8], [0.8, 1]]},
    }
    n = 2 * engine._BLOCK + 11
    res = simulate(parse_scenarios(doc, "c.yaml"), iterations=n, seed=88)
    mean = Dist.pert(0.5, 2, 8).mean()
    for r in res.results:
        assert abs(r.loss_events.mean() - mean) < 4 * math.sqrt(r.loss_events.var() / n)
    a, b = (r.annual_loss for r in res.results)
    # Count correlation = copula effect x Var(TEF) / Var(N), about 0.3 here; each block
    # gets its own slice of the copula uniforms (independent scenarios: about 0).
    for lo in (0, engine._BLOCK):
        hi = lo + engine._BLOCK
        assert np.corrcoef(a[lo:hi], b[lo:hi])[0, 1] > 0.25


@pytest.mark.parametrize("size", [1, 2, 3, 10, 1001, 100_000])
def test_issue8_3_percentiles_from_one_sort_equal_numpy_bit_for_bit(size: int) -> None:
    rng = np.random.default_rng(size)
    annual = np.round(rng.lognormal(10, 2, size), 2)
    annual[: size // 3] = 0.0  # loss-free years, and ties
    rng.shuffle(annual)
    counts = (annual > 0).astype(np.int64)
    thresholds = (0.0, float(annual[0]), 1e4, 1e12)
    s = engine._summary(annual, counts, thresholds)
    want = np.percentile(annual, engine.PERCENTILES)
    assert [s.p10, s.p50, s.p90, s.p95, s.p99] == [float(v) for v in want]
    assert s.max == float(annual.max())
    assert s.exceedance == tuple((t, float(np.mean(annual > t))) for t in thresholds)


def test_issue8_3_many_events_are_simulated_in_bounded_runs_of_years(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block whose expected events exceed _EVENTS_PER_PASS is split into runs of years
    (a run may be one year above it): every year still simulated, the same distribution."""
    monkeypatch.setattr(engine, "_EVENTS_PER_PASS", 1000)
    ss = parse_scenarios(_scenario(tef=2, vulnerability=0.5), "many.yaml")
    n = 20_000  # 20,000 expected events: about 20 runs
    r = simulate(ss, iterations=n, seed=89).results[0]
    assert np.array_equal(r.annual_loss, r.loss_events * 1000.0)
    assert abs(r.loss_events.mean() - 1.0) < 5 / math.sqrt(n)
    assert abs(float(np.mean(r.loss_events == 0)) - math.exp(-1.0)) < 5 * math.sqrt(0.25 / n)
    big = parse_scenarios(_scenario(tef=5000, vulnerability=1), "big.yaml")
    b = simulate(big, iterations=40, seed=90).results[0]  # every year above the pass size
    assert abs(b.loss_events.mean() - 5000) < 5 * math.sqrt(5000 / 40)
    assert np.array_equal(b.annual_loss, b.loss_events * 1000.0)


@pytest.mark.parametrize(
    ("tef", "shown"),
    [
        (20_000_000, "2e+07"),
        # sigma ~ 420 in log space: exp() overflows to infinity in the upper tail.
        ({"dist": "lognormal", "p5": 1e-300, "p95": 1e300}, "inf"),
    ],
)
def test_issue8_3_absurd_loss_event_frequency_is_refused_with_the_fix(tef: Any, shown: str) -> None:
    ss = parse_scenarios(_scenario(tef=tef, vulnerability=1), "absurd.yaml")
    with pytest.raises(InputError) as exc:
        simulate(ss, iterations=1000, seed=1)
    msg = exc.value.message
    assert "scenario 's'" in msg and shown in msg and "10,000,000 events a year" in msg
    assert "fix:" in msg
