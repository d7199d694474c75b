from __future__ import annotations

from bastion.guard import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def state(b: CircuitBreaker) -> str:
    return b.state.value  # a call each time: the state moves with the clock


def test_closed_open_half_open_closed() -> None:
    c = Clock()
    b = CircuitBreaker("up", failure_threshold=3, reset_after_s=10, clock=c)
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert state(b) == "closed"
    b.success()  # a success resets the count: failures must be consecutive
    for _ in range(3):
        b.failure()
    assert state(b) == "open"
    assert not b.allow()
    assert b.retry_after_s() == 10
    c.t = 10.0
    assert state(b) == "half-open"
    assert b.allow()  # one probe
    assert not b.allow()  # and only one
    b.failure()
    assert state(b) == "open"  # a failed probe opens it again
    c.t = 20.0
    assert b.allow()
    b.success()
    assert state(b) == "closed"
    assert b.allow()
    assert [t[1] for t in b.transitions] == [
        BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN,
        BreakerState.HALF_OPEN, BreakerState.CLOSED,
    ]  # fmt: skip
