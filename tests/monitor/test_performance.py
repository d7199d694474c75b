"""Concept drift with late labels: performance windows, Wilson intervals, bounded waiting."""

from __future__ import annotations

import random

import pytest
from scipy import stats

from bastion.core.errors import InputError
from bastion.monitor import PerformanceMonitor, wilson_interval


def test_wilson_interval_matches_scipy() -> None:
    lo, hi = wilson_interval(37, 50)
    ci = stats.binomtest(37, 50).proportion_ci(confidence_level=0.95, method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_late_labels_are_matched_and_degradation_detected() -> None:
    rng = random.Random(0)
    mon = PerformanceMonitor(window_size=400, baseline=0.9, tolerance=0.02)
    reports = []
    for phase, acc in (("good", 0.9), ("bad", 0.7)):
        ids = [f"{phase}-{i}" for i in range(400)]
        truth = {i: rng.choice(["approve", "deny"]) for i in ids}
        for i in ids:  # all predictions first, labels later and out of order
            right = rng.random() < acc
            wrong = "deny" if truth[i] == "approve" else "approve"
            mon.record_prediction(i, truth[i] if right else wrong, confidence=0.9)
        assert mon.pending == 400
        rng.shuffle(ids)
        reports += [r for i in ids if (r := mon.record_label(i, truth[i]))]
    good, bad = reports
    assert not good.degraded and good.ci_low < 0.9 < good.ci_high + 0.05
    assert bad.degraded and bad.ci_high < 0.88
    assert bad.calibration_gap == pytest.approx(0.9 - bad.accuracy)
    assert mon.pending == 0


def test_unknown_labels_and_evictions_are_counted_not_silent() -> None:
    mon = PerformanceMonitor(window_size=3, max_pending=2)
    mon.record_prediction("a", 1)
    mon.record_prediction("b", 1)
    mon.record_prediction("c", 1)  # evicts "a"
    assert mon.pending == 2
    assert mon.record_label("a", 1) is None  # its prediction was evicted: unmatched
    mon.record_label("b", 1)
    rep = mon.close_window()
    assert rep is not None and (rep.n, rep.expired, rep.unmatched) == (1, 1, 1)


def test_label_ttl_and_time_windows() -> None:
    t = [0.0]
    mon = PerformanceMonitor(window_size=None, window_seconds=60, label_ttl=30, clock=lambda: t[0])
    mon.record_prediction("a", "x")
    mon.record_prediction("b", "x")
    t[0] = 10.0
    assert mon.record_label("a", "x") is None
    t[0] = 45.0  # b has waited 45 s > ttl
    assert mon.record_label("b", "x") is None
    t[0] = 61.0
    mon.record_prediction("c", "y")
    rep = mon.record_label("c", "z")  # closes the first window before counting c
    assert rep is not None and (rep.n, rep.correct, rep.expired, rep.unmatched) == (1, 1, 1, 1)


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        PerformanceMonitor(window_size=None)
    with pytest.raises(InputError, match="confidence"):
        PerformanceMonitor().record_prediction("a", 1, confidence=2.0)
    with pytest.raises(InputError, match="request_id"):
        PerformanceMonitor().record_prediction("", 1)
