from __future__ import annotations

import math

import pytest

from bastion.core.errors import InputError
from bastion.guard.detect import ResponseLadder
from bastion.guard.interface import Verdict


def test_the_highest_rung_reached_wins() -> None:
    ladder = ResponseLadder(throttle=0.1, coarsen=0.2, step_up=0.3, block=0.4)
    assert ladder.verdict(0.05) is Verdict.ALLOW
    assert ladder.verdict(0.1) is Verdict.THROTTLE
    assert ladder.verdict(0.25) is Verdict.COARSEN
    assert ladder.verdict(0.3) is Verdict.STEP_UP
    assert ladder.verdict(0.9) is Verdict.BLOCK


def test_a_rung_that_is_off_is_never_given() -> None:
    ladder = ResponseLadder(throttle=0.1, block=0.4)
    assert ladder.verdict(0.3) is Verdict.THROTTLE
    assert ladder.verdict(0.4) is Verdict.BLOCK


def test_a_score_that_is_not_a_number_fails_closed() -> None:
    assert ResponseLadder(throttle=0.1, block=0.4).verdict(math.nan) is Verdict.BLOCK
    assert ResponseLadder(throttle=0.1, coarsen=0.2).verdict(math.nan) is Verdict.COARSEN


def test_bad_ladders_are_refused_with_the_rung_named() -> None:
    with pytest.raises(InputError, match=r"ladder\.block: 0\.1 is below"):
        ResponseLadder(throttle=0.2, block=0.1)
    with pytest.raises(InputError, match="at least one"):
        ResponseLadder()
    with pytest.raises(InputError, match=r"ladder\.coarsen: expected a finite number"):
        ResponseLadder(coarsen=math.inf)


def test_from_mapping_round_trips_and_refuses_unknown_rungs() -> None:
    ladder = ResponseLadder.from_mapping({"throttle": 0.1, "block": 1})
    assert ladder.to_dict() == {"throttle": 0.1, "coarsen": None, "step_up": None, "block": 1.0}
    with pytest.raises(InputError, match=r"unknown rung.*deny"):
        ResponseLadder.from_mapping({"deny": 0.5})
    with pytest.raises(InputError, match=r"prada\.block: expected a number"):
        ResponseLadder.from_mapping({"block": "high"}, "prada")
