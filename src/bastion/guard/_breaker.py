"""A circuit breaker per upstream: closed, open after N consecutive failures, half-open probes.

Closed: calls go through; ``failure_threshold`` consecutive failures (errors, timeouts,
5xx answers) open it. Open: calls are refused at once (the guard answers 503, with the
endpoint's fallback when one is configured) until ``reset_after_s`` has passed. Half-open:
at most ``half_open_max`` probe calls go through; a success closes it, a failure opens it
again. State is per process: each replica judges the upstream it can reach.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 10.0,
        half_open_max: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.half_open_max = half_open_max
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self.transitions: list[tuple[BreakerState, BreakerState]] = []

    def _move(self, to: BreakerState) -> None:
        if to is not self._state:
            self.transitions.append((self._state, to))
            del self.transitions[:-32]
            self._state = to

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._tick()
            return self._state

    def _tick(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_after_s
        ):
            self._move(BreakerState.HALF_OPEN)
            self._probes = 0

    def allow(self) -> bool:
        """May a call go to the upstream now? (A half-open breaker counts its probes.)"""
        with self._lock:
            self._tick()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and self._probes < self.half_open_max:
                self._probes += 1
                return True
            return False

    def retry_after_s(self) -> float:
        with self._lock:
            if self._state is not BreakerState.OPEN:
                return 1.0
            return max(1.0, self.reset_after_s - (self._clock() - self._opened_at))

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._move(BreakerState.CLOSED)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._move(BreakerState.OPEN)
