"""Blacklight against a HopSkipJump-like boundary walk on the digits model, and benign
replay. In repeated runs the walk was flagged within 7 queries on every seed (its binary
search sends near-identical points at once); benign rows from seven clients never shared
more than 0.15 of a fingerprint with an earlier row (the throttle rung is 0.34)."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.core.errors import InputError
from bastion.guard._state import MemoryStateStore
from bastion.guard.detect import (
    ATLAS_ADVERSARIAL_DATA,
    BlacklightDetector,
    fingerprint,
)
from bastion.guard.detect.traffic import GuardedOracle, boundary_walk
from bastion.guard.interface import GuardRequest, InputDetector, Verdict
from tests.guard.detect._store import DictStore
from tests.guard.detect.conftest import Digits


def _det(store: DictStore | None = None, **kw: float) -> BlacklightDetector:
    return BlacklightDetector(store or DictStore(), quantize=1 / 8, window=16, **kw)  # type: ignore[arg-type]


def _req(x: list[float] | None, client: str = "c") -> GuardRequest:
    return GuardRequest("r", "m", client, None, features=x)


def test_it_is_an_input_detector() -> None:
    assert isinstance(_det(), InputDetector)


@pytest.mark.parametrize("seed", range(5))
def test_a_boundary_walk_is_flagged_within_20_queries(digits: Digits, seed: int) -> None:
    rng = np.random.default_rng(seed)
    i = int(rng.integers(len(digits.x_test)))
    x0 = digits.x_test[i]
    start = digits.x_test[digits.y_test != digits.y_test[i]][int(rng.integers(100))]
    det = BlacklightDetector(MemoryStateStore(), quantize=1 / 8, window=16)
    oracle = GuardedOracle(digits.predict(), [det], client_id="attacker")
    adv = boundary_walk(oracle, x0, start, rng=rng)
    assert oracle.queries > 200
    assert digits.predict()(adv) != digits.predict()(x0)  # the walk really is an attack
    at = oracle.detected_at()
    assert at is not None and at <= 20
    # nearly every query after the start is a near-duplicate of an earlier one
    assert oracle.flagged["blacklight"] > 0.8 * oracle.queries


def test_an_attack_split_across_clients_is_still_seen(digits: Digits) -> None:
    det = _det()
    x = digits.x_test[3]
    det.inspect(_req(list(x), client="sybil-1"))
    r = det.inspect(_req(list(x + 0.01), client="sybil-2"))
    assert r.verdict is Verdict.BLOCK and r.score == 1.0
    assert "from another client" in r.reasons[0]
    assert ATLAS_ADVERSARIAL_DATA in r.techniques


def test_benign_replay_from_many_clients_is_not_flagged(digits: Digits) -> None:
    det = _det()
    scores = []
    for k, row in enumerate(digits.x_test):
        r = det.inspect(_req(list(row), client=f"user{k % 7}"))
        scores.append(r.score)
        assert r.verdict is Verdict.ALLOW
    assert max(scores) < 0.34


def test_fingerprints_expire(digits: Digits) -> None:
    store = DictStore()
    det = _det(store, ttl_s=60)
    x = list(digits.x_test[0])
    det.inspect(_req(x))
    store.now = 61
    assert det.inspect(_req(x)).verdict is Verdict.ALLOW


def test_memory_is_bounded_per_hash(digits: Digits) -> None:
    store = DictStore()
    det = _det(store, bucket=4)
    for _ in range(20):
        det.inspect(_req(list(digits.x_test[0])))
    buckets = [k for k in store.names() if ":h:" in k]
    assert buckets and all(len(store.items(k)) == 4 for k in buckets)


def test_fingerprint_ignores_perturbations_within_a_quantization_step() -> None:
    x = np.full(64, 0.3)
    a = fingerprint(x, quantize=0.25, window=16, top_k=50)
    b = fingerprint(x + 0.01, quantize=0.25, window=16, top_k=50)
    c = fingerprint(np.full(64, 0.8), quantize=0.25, window=16, top_k=50)
    assert a == b
    assert not set(a) & set(c)
    assert len(c) == 49  # 64 - 16 + 1 windows, each hashed with its position


def test_hostile_inputs_fail_closed(digits: Digits) -> None:
    det = _det()
    assert det.inspect(_req(None)).verdict is Verdict.ALLOW
    assert det.inspect(_req([float("inf")])).verdict is Verdict.BLOCK
    with pytest.raises(InputError, match="quantize"):
        BlacklightDetector(DictStore(), quantize=0)


def test_configuration_as_the_guard_config_gives_it() -> None:
    det = BlacklightDetector(MemoryStateStore(), quantize=0.25, ladder={"coarsen": 0.4})
    assert det.ladder.coarsen == 0.4 and det.ladder.block is None
    with pytest.raises(InputError, match=r"blacklight\.ladder: unknown rung"):
        BlacklightDetector(MemoryStateStore(), quantize=0.25, ladder={"kill": 0.4})
