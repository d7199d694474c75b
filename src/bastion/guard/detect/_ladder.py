"""Graduated responses: a detector's score mapped to a :class:`Verdict` by thresholds.

A ladder holds one threshold per rung (throttle, coarsen, step-up, block); a score at or
above a rung's threshold earns that rung, the highest one reached wins, and a rung whose
threshold is ``None`` is never given. Thresholds must not decrease up the ladder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bastion.core.errors import InputError
from bastion.guard.interface import Verdict

__all__ = ["ResponseLadder"]

_RUNGS = ("throttle", "coarsen", "step_up", "block")


@dataclass(frozen=True, slots=True)
class ResponseLadder:
    """Score thresholds for each graduated response (``None``: that response is off)."""

    throttle: float | None = None
    coarsen: float | None = None
    step_up: float | None = None
    block: float | None = None

    def __post_init__(self) -> None:
        last = -math.inf
        for name in _RUNGS:
            t = getattr(self, name)
            if t is None:
                continue
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                raise InputError(f"ladder.{name}: expected a finite number or null, got {t!r}")
            if t < last:
                raise InputError(
                    f"ladder.{name}: {t} is below a lower rung's threshold {last}; "
                    "thresholds must not decrease from throttle to block"
                )
            last = float(t)
        if last == -math.inf:
            raise InputError("ladder: set at least one of throttle, coarsen, step_up, block")

    def verdict(self, score: float) -> Verdict:
        """The most severe verdict whose threshold ``score`` reaches (ALLOW when none)."""
        if not math.isfinite(score):
            return Verdict.BLOCK if self.block is not None else self._top()
        best = Verdict.ALLOW
        for verdict, t in (
            (Verdict.THROTTLE, self.throttle),
            (Verdict.COARSEN, self.coarsen),
            (Verdict.STEP_UP, self.step_up),
            (Verdict.BLOCK, self.block),
        ):
            if t is not None and score >= t:
                best = verdict
        return best

    def _top(self) -> Verdict:
        for verdict, t in (
            (Verdict.BLOCK, self.block),
            (Verdict.STEP_UP, self.step_up),
            (Verdict.COARSEN, self.coarsen),
        ):
            if t is not None:
                return verdict
        return Verdict.THROTTLE

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], where: str = "ladder") -> ResponseLadder:
        """A ladder from configuration (``{throttle: 0.1, block: 0.2}``); unknown keys refused."""
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a mapping of rung to threshold")
        unknown = sorted(set(map(str, data)) - set(_RUNGS))
        if unknown:
            raise InputError(
                f"{where}: unknown rung(s) {', '.join(unknown)}; known: {', '.join(_RUNGS)}"
            )
        values: dict[str, float | None] = {}
        for name in _RUNGS:
            v = data.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise InputError(f"{where}.{name}: expected a number or null, got {v!r}")
            values[name] = None if v is None else float(v)
        return cls(**values)

    def to_dict(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in _RUNGS}
