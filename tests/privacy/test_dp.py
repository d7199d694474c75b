"""Differential privacy: mechanisms, validation, accounting, the budget ledger, training."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np
import pytest

from bastion.core.checks import run_check
from bastion.core.errors import ConflictError, InputError, NotFoundError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy import dp

# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf")])
def test_epsilon_zero_or_below_is_a_clear_error(eps: float) -> None:
    with pytest.raises(InputError, match="epsilon must be a finite number above 0"):
        dp.make_query("count", epsilon=eps)


def test_reversed_bounds_are_a_clear_error() -> None:
    with pytest.raises(InputError, match="reversed"):
        dp.make_query("sum", epsilon=1, lower=10, upper=0)
    with pytest.raises(InputError, match="explicit clamping bounds"):
        dp.make_query("mean", epsilon=1)
    with pytest.raises(InputError, match="delta must be above 0"):
        dp.make_query("count", epsilon=1, noise="gaussian")
    with pytest.raises(InputError, match="pure epsilon"):
        dp.make_query("count", epsilon=1, delta=1e-6)
    with pytest.raises(InputError, match="quantiles must lie"):
        dp.make_query("quantiles", epsilon=1, lower=0, upper=1, quantiles=[1.5])


def test_non_numbers_name_the_row_not_the_value() -> None:
    q = dp.make_query("sum", epsilon=1, lower=0, upper=1)
    with pytest.raises(InputError) as ei:
        dp.evaluate(q, ["1", "secret-value-7"])
    assert "row 2" in ei.value.message and "secret" not in ei.value.message


# -- noise scale and clamping ----------------------------------------------------------------


def test_laplace_noise_variance_matches_scale() -> None:
    q = dp.make_query("sum", epsilon=0.5, lower=-2, upper=3)
    assert q.noise_scale() == pytest.approx(3 / 0.5)
    rng = np.random.default_rng(7)
    draws = np.array([dp.evaluate(q, [0.0], rng=rng).value for _ in range(20000)])
    assert draws.var() == pytest.approx(2 * q.noise_scale() ** 2, rel=0.05)
    assert abs(draws.mean()) < 0.2


def test_gaussian_noise_variance_matches_analytic_sigma() -> None:
    from dp_accounting import gaussian_mechanism

    q = dp.make_query("count", epsilon=1.0, delta=1e-5, noise="gaussian")
    sigma = gaussian_mechanism.get_sigma_gaussian(1.0, 1e-5)
    assert q.noise_scale() == pytest.approx(sigma)
    rng = np.random.default_rng(11)
    values = [1] * 1000
    draws = np.array([dp.evaluate(q, values, rng=rng).value for _ in range(20000)]) - 1000
    assert draws.var() == pytest.approx(sigma**2, rel=0.05)


def test_clamping_happens_before_summing() -> None:
    q = dp.make_query("sum", epsilon=50, lower=0, upper=10)
    rng = np.random.default_rng(0)
    # 1000 is clamped to 10, -5 to 0: true clamped sum is 10 + 0 + 5 = 15.
    got = np.mean([dp.evaluate(q, [1000, -5, 5], rng=rng).value for _ in range(400)])
    assert got == pytest.approx(15, abs=0.2)
    qm = dp.make_query("mean", epsilon=50, lower=0, upper=10)
    m = np.mean([dp.evaluate(qm, [1000] * 200, rng=rng).value for _ in range(50)])
    assert m == pytest.approx(10, abs=0.1)


def test_histogram_and_quantiles() -> None:
    rng = np.random.default_rng(3)
    h = dp.make_query("histogram", epsilon=20, categories=["a", "b"])
    v = dp.evaluate(h, ["a"] * 30 + ["b"] * 10 + ["zz"] * 5, rng=rng).value
    assert v["a"] == pytest.approx(30, abs=1) and v["b"] == pytest.approx(10, abs=1)
    assert "zz" not in v
    q = dp.make_query("quantiles", epsilon=5, lower=0, upper=100, quantiles=[0.5, 0.9])
    out = dp.evaluate(q, list(np.arange(10000) % 100), rng=rng).value
    assert out["0.5"] == pytest.approx(50, abs=2) and out["0.9"] == pytest.approx(90, abs=2)


# -- accounting and planning -----------------------------------------------------------------


def test_plan_round_trip_and_reverse() -> None:
    p = dp.plan(epsilon=3, delta=1e-5, sample_rate=0.01, epochs=10)
    assert p.steps == 1000
    back = dp.plan(noise_multiplier=p.noise_multiplier, delta=1e-5, sample_rate=0.01, steps=1000)
    assert back.epsilon == pytest.approx(3, rel=1e-3)
    with pytest.raises(InputError, match="exactly one"):
        dp.plan(delta=1e-5, sample_rate=0.01, epochs=1)


@pytest.mark.parametrize(
    ("eps", "delta", "q", "epochs"),
    [(1.0, 1e-5, 0.01, 5), (3.0, 1e-5, 0.004, 20), (8.0, 1e-6, 0.05, 3)],
)
def test_plan_agrees_with_opacus_rdp_within_one_percent(
    eps: float, delta: float, q: float, epochs: int
) -> None:
    import warnings

    from opacus.accountants.analysis import rdp as ordp
    from opacus.accountants.utils import get_noise_multiplier

    p = dp.plan(epsilon=eps, delta=delta, sample_rate=q, epochs=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = get_noise_multiplier(
            target_epsilon=eps,
            target_delta=delta,
            sample_rate=q,
            epochs=epochs,
            accountant="rdp",
            epsilon_tolerance=0.0005,
        )
        orders = list(dp.OPACUS_ORDERS)
        rdp = ordp.compute_rdp(q=q, noise_multiplier=1.1, steps=p.steps, orders=orders)
        their_eps, _ = ordp.get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    assert p.noise_multiplier == pytest.approx(theirs, rel=0.01)
    ours = dp.dp_sgd_epsilon(1.1, delta, q, p.steps)
    assert ours == pytest.approx(float(their_eps), rel=0.01)


def test_pld_and_rdp_composition() -> None:
    lap = dp.Mechanism(dp.MechanismKind.LAPLACE, 1 / 0.5)
    assert dp.compose_epsilon([lap, lap], 1e-6, dp.Accounting.PLD) <= 1.0 + 1e-6
    assert dp.compose_epsilon([lap, lap], 1e-6, dp.Accounting.RDP) > 0.9
    assert dp.compose_epsilon([], 1e-6) == 0.0


# -- the budget ledger -----------------------------------------------------------------------


def test_release_without_a_budget_is_refused(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no privacy budget"):
        dp.release(ws, "applicants", [1, 2], dp.make_query("count", epsilon=0.1))


def test_release_spends_and_over_budget_is_refused_with_nothing_spent(ws: Workspace) -> None:
    dp.set_budget(ws, "applicants", epsilon=1.0, delta=1e-6)
    q = dp.make_query("mean", epsilon=0.6, lower=0, upper=100)
    r = dp.release(ws, "applicants", list(range(100)), q, column="age")
    assert 0.5 < r.spent_epsilon <= 0.6 + 1e-9
    ev = ws.evidence.get(r.evidence_id)
    data = dp.DpReleaseCheck.read(ev)
    assert data.input_digest.startswith("sha256:") and data.output_digest == r.output_digest
    size = ws.ledger.size()
    with pytest.raises(dp.BudgetExceededError, match="nothing was spent"):
        dp.release(ws, "applicants", list(range(100)), q)
    b = dp.budget_status(ws, "applicants")
    assert len(b.spends) == 1 and b.spent_epsilon == pytest.approx(r.spent_epsilon)
    assert ws.ledger.size() == size  # no evidence, no spend event
    # A budget may not be lowered below what is spent.
    with pytest.raises(ConflictError):
        dp.set_budget(ws, "applicants", epsilon=0.1, delta=1e-6)
    svg = dp.budget_chart_svg(ws, "applicants")
    assert svg.startswith("<?xml") and "budget 1" in svg
    assert svg == dp.budget_chart_svg(ws, "applicants")


def test_budget_check_fails_closed_and_passes_with_a_budget(ws: Workspace) -> None:
    ev = run_check(ws, dp.DpBudgetCheck, Subject("dataset", "none-set"))
    assert ev.verdict is Verdict.FAIL
    dp.set_budget(ws, "d1", epsilon=1, delta=1e-6)
    ev = run_check(ws, dp.DpBudgetCheck, Subject("dataset", "d1"))
    assert ev.verdict is Verdict.PASS
    assert dp.DpBudgetCheck.read(ev).budget_epsilon == 1


def _race(url: str, home: str, barrier: Any, results: Any) -> None:
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace
    from bastion.privacy import dp as dpm

    ws = open_workspace(get_settings(home=home, database_url=url))
    q = dpm.make_query("count", epsilon=0.6)
    barrier.wait()
    try:
        dpm.release(ws, "raced", [1] * 50, q)
        results.put("ok")
    except dpm.BudgetExceededError:
        results.put("refused")
    finally:
        ws.close()


@pytest.mark.postgres
def test_two_processes_racing_cannot_overspend(pg_schema_url: str, tmp_path: Any) -> None:
    from bastion.core.settings import get_settings
    from bastion.core.workspace import init_workspace

    home = tmp_path / "home"
    ws, _ = init_workspace(get_settings(home=home, database_url=pg_schema_url))
    dp.set_budget(ws, "raced", epsilon=1.0, delta=1e-6)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(pg_schema_url, str(home), barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    got = sorted(results.get(timeout=5) for _ in procs)
    assert got == ["ok", "refused"]
    b = dp.budget_status(ws, "raced")
    assert len(b.spends) == 1 and b.spent_epsilon <= 1.0
    ws.close()


# -- training --------------------------------------------------------------------------------


def _data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x @ np.array([1.5, -1.0, 0.5]) + 0.3 * rng.normal(size=n) > 0).astype(float)
    return x, y


def test_dp_logistic_numpy_learns_and_records(ws: Workspace) -> None:
    x, y = _data()
    dp.set_budget(ws, "train-set", epsilon=3, delta=1e-5, accounting="rdp")
    model, eid = dp.train_dp_logistic(
        ws,
        "train-set",
        x,
        y,
        epsilon=2.0,
        delta=1e-5,
        input_digest="sha256:" + "0" * 64,
        epochs=5,
        sample_rate=0.05,
        rng=np.random.default_rng(1),
    )
    assert (model.predict(x) == y).mean() > 0.85
    data = dp.DpTrainingCheck.read(ws.evidence.get(eid))
    assert data.output_digest == model.digest() and data.steps == 100
    assert dp.budget_status(ws, "train-set").spent_epsilon == pytest.approx(2.0, rel=0.01)
    with pytest.raises(dp.BudgetExceededError):
        dp.train_dp_logistic(
            ws, "train-set", x, y, epsilon=2.5, delta=1e-5, input_digest="sha256:x"
        )


def test_dp_logistic_opacus_engine_learns() -> None:
    x, y = _data(1000)
    model = dp.fit_dp_logistic(
        x, y, epsilon=4, delta=1e-5, epochs=3, sample_rate=0.05, engine="opacus", seed=0
    )
    assert model.steps == 60 and (model.predict(x) == y).mean() > 0.8
