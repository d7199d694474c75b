"""Concept drift when labels arrive late: performance by window, with confidence intervals.

Predictions are recorded by request id when they are made; a label that arrives later (a
chargeback, a default, a reviewer's verdict) is matched to its prediction and counted in
the current window. A window of ``window_size`` labelled outcomes (or ``window_seconds``)
reports accuracy with its Wilson 95% interval, the mean confidence (its gap to accuracy is
the calibration gap) and whether performance has **degraded**: the interval's upper bound
below ``baseline - tolerance``. Waiting predictions are bounded (``max_pending``; the
oldest are evicted and counted, never silently), as are label delays (``label_ttl``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bastion.core.errors import InputError

__all__ = ["PerformanceMonitor", "PerformanceReport", "wilson_interval"]


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


@dataclass(frozen=True)
class PerformanceReport:
    window: int
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    mean_confidence: float | None
    calibration_gap: float | None  # mean confidence - accuracy
    degraded: bool
    baseline: float | None
    expired: int  # predictions whose label never came (ttl or eviction) in this window
    unmatched: int  # labels for no known prediction in this window

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PerformanceMonitor:
    """Matches late labels to predictions and reports performance per window."""

    window_size: int | None = 500
    window_seconds: float | None = None
    baseline: float | None = None
    tolerance: float = 0.02
    max_pending: int = 100_000
    label_ttl: float | None = None
    clock: Callable[[], float] = time.monotonic
    _pending: dict[str, tuple[Any, float | None, float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.window_size is None and self.window_seconds is None:
            raise InputError("performance monitor: give a window size, a window length, or both")
        if self.window_size is not None and self.window_size < 1:
            raise InputError("window_size: at least 1")
        if self.max_pending < 1:
            raise InputError("max_pending: at least 1")
        if self.baseline is not None and not 0 <= self.baseline <= 1:
            raise InputError("baseline: an accuracy in [0, 1]")
        self.windows = 0
        self._reset()

    def _reset(self) -> None:
        self._n = self._correct = self._expired = self._unmatched = 0
        self._conf_sum = 0.0
        self._conf_n = 0
        self._start = self.clock()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record_prediction(
        self, request_id: str, prediction: Any, confidence: float | None = None
    ) -> None:
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 256:
            raise InputError("request_id: expected a string of 1-256 characters")
        if confidence is not None and not 0 <= confidence <= 1:
            raise InputError("confidence: must lie in [0, 1]")
        self._expire()
        if request_id not in self._pending and len(self._pending) >= self.max_pending:
            self._pending.pop(next(iter(self._pending)))  # the oldest waits no longer
            self._expired += 1
        self._pending[request_id] = (prediction, confidence, self.clock())

    def _expire(self) -> None:
        if self.label_ttl is None:
            return
        limit = self.clock() - self.label_ttl
        while self._pending:
            rid = next(iter(self._pending))
            if self._pending[rid][2] >= limit:
                break
            del self._pending[rid]
            self._expired += 1

    def record_label(self, request_id: str, label: Any) -> PerformanceReport | None:
        """Match a late label; returns the report of a window it closed (else None)."""
        report = None
        if (
            self.window_seconds is not None
            and self._n
            and self.clock() - self._start >= self.window_seconds
        ):
            report = self.close_window()
        self._expire()
        entry = self._pending.pop(request_id, None)
        if entry is None:
            self._unmatched += 1
            return report
        prediction, confidence, _ = entry
        self._n += 1
        self._correct += int(prediction == label)
        if confidence is not None:
            self._conf_sum += confidence
            self._conf_n += 1
        if self.window_size is not None and self._n >= self.window_size:
            return self.close_window()
        return report

    def close_window(self) -> PerformanceReport | None:
        if self._n == 0 and not self._expired and not self._unmatched:
            self._reset()
            return None
        self.windows += 1
        acc = self._correct / self._n if self._n else 0.0
        lo, hi = wilson_interval(self._correct, self._n)
        mean_conf = self._conf_sum / self._conf_n if self._conf_n else None
        rep = PerformanceReport(
            window=self.windows, n=self._n, correct=self._correct, accuracy=acc,
            ci_low=lo, ci_high=hi, mean_confidence=mean_conf,
            calibration_gap=(mean_conf - acc) if mean_conf is not None and self._n else None,
            degraded=bool(self._n and self.baseline is not None and hi < self.baseline - self.tolerance),
            baseline=self.baseline, expired=self._expired, unmatched=self._unmatched,
        )  # fmt: skip
        self._reset()
        return rep
