"""PRADA against a scripted synthetic-query extraction of the digits model, and benign
replayed traffic. Sizes: the attack is detected on all six seeds at the first test (about
108 queries) in repeated runs; benign replay of all 797 held-out rows on six orders never
earned a verdict, so the bounds below leave a wide margin."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.core.errors import StorageError
from bastion.guard._state import MemoryStateStore
from bastion.guard.detect import (
    ATLAS_EXFIL_INFERENCE_API,
    ATLAS_EXTRACT_MODEL,
    PradaDetector,
    ResponseLadder,
)
from bastion.guard.detect.traffic import GuardedOracle, jacobian_extraction, replay
from bastion.guard.interface import GuardRequest, Response, Verdict
from tests.guard.detect._store import DictStore
from tests.guard.detect.conftest import Digits


def _req(features: list[float] | None, client: str = "c", endpoint: str = "m") -> GuardRequest:
    return GuardRequest("r", endpoint, client, None, features=features)


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_query_extraction_is_detected_within_150_queries(
    digits: Digits, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    det = PradaDetector(MemoryStateStore(), label_field="label")
    oracle = GuardedOracle(digits.predict(), [det], client_id="thief")
    seeds = digits.x_test[rng.choice(len(digits.x_test), 10, replace=False)]
    surrogate, queries, _ = jacobian_extraction(oracle, seeds, lam=1 / 16, rounds=6)
    assert len(queries) == oracle.queries == 640
    at = oracle.detected_at()
    assert at is not None and at <= 150
    # the surrogate the attacker trained is a real copy, better than chance (10 classes)
    agree = (surrogate.predict(digits.x_test) == digits.victim.predict(digits.x_test)).mean()
    assert agree > 0.3


def test_benign_replay_stays_under_one_percent_flagged(digits: Digits) -> None:
    flagged = total = 0
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(digits.x_test))
        det = PradaDetector(MemoryStateStore(), label_field="label")
        oracle = GuardedOracle(digits.predict(), [det], client_id=f"analyst{seed}")
        replay(oracle, digits.x_test[order])
        flagged += oracle.flagged.get("prada", 0)
        total += oracle.queries
    assert total == 3 * len(digits.x_test)
    assert flagged / total < 0.01


def test_a_flagged_client_gets_the_ladder_verdict_with_atlas_ids(digits: Digits) -> None:
    det = PradaDetector(MemoryStateStore(), ladder={"throttle": 0.10, "block": 0.15})
    assert det.ladder == ResponseLadder(throttle=0.10, block=0.15)
    base = digits.x_test[0]
    direction = np.ones(64) / 8.0
    result = None
    for k in range(120):  # a line search in small fixed steps: distances far from normal
        result = det.inspect(_req(list(base + 0.01 * k * direction)))
    assert result is not None
    assert result.verdict is Verdict.BLOCK
    assert (
        ATLAS_EXTRACT_MODEL in result.techniques and ATLAS_EXFIL_INFERENCE_API in result.techniques
    )
    assert result.score == pytest.approx(1 - (det.statistic(_req(list(base))) or 0))
    assert any("Shapiro-Wilk" in r for r in result.reasons)


def test_no_verdict_before_min_queries(digits: Digits) -> None:
    det = PradaDetector(DictStore(), min_queries=50)
    for i in range(50):  # the first query has no distance: 49 after 50 queries
        r = det.inspect(_req(list(digits.x_test[i])))
        assert r.verdict is Verdict.ALLOW and r.score == 0.0
    assert det.statistic(_req(None)) is None
    det.inspect(_req(list(digits.x_test[50])))
    assert det.statistic(_req(None)) is not None


def test_exact_repeats_add_no_distance(digits: Digits) -> None:
    det = PradaDetector(DictStore(), min_queries=20)
    for _ in range(200):  # a client retrying one request is not extracting the model
        assert det.inspect(_req(list(digits.x_test[0]))).verdict is Verdict.ALLOW
    assert det.statistic(_req(None)) is None


def test_state_is_per_client_and_shared_through_the_store(digits: Digits) -> None:
    store = DictStore()
    a, b = PradaDetector(store), PradaDetector(store)  # two replicas, one store
    for i in range(30):
        (a if i % 2 else b).inspect(_req(list(digits.x_test[i])))
    assert len(a._distances(a._base(_req(None)))) == 29
    assert len(a._distances(a._base(_req(None, client="other")))) == 0


def test_memory_per_client_is_bounded(digits: Digits) -> None:
    store = DictStore()
    det = PradaDetector(store, min_queries=20, max_growing=5, max_distances=100)
    rng = np.random.default_rng(0)
    for _ in range(400):
        det.inspect(_req(list(rng.random(64))))
    lists = {k: len(store.items(k)) for k in store.names() if store.items(k)}
    assert max(v for k, v in lists.items() if ":g:" in k) == 5
    assert max(v for k, v in lists.items() if k.endswith(":d")) == 100


def test_state_expires(digits: Digits) -> None:
    store = DictStore()
    det = PradaDetector(store, ttl_s=60)
    for i in range(10):
        det.inspect(_req(list(digits.x_test[i])))
    store.now = 61
    assert len(det._distances(det._base(_req(None)))) == 0


def test_hostile_inputs_fail_closed_without_raising(digits: Digits) -> None:
    det = PradaDetector(DictStore())
    assert det.inspect(_req(None)).verdict is Verdict.ALLOW  # an LLM request: not applicable
    assert det.inspect(_req([float("nan")] * 64)).verdict is Verdict.BLOCK
    assert det.inspect(_req([])).verdict is Verdict.BLOCK
    det.inspect(_req(list(digits.x_test[0])))
    r = det.inspect(_req([0.0] * 10))
    assert r.verdict is Verdict.BLOCK and "10 features after 64" in r.reasons[0]


def test_per_class_mode_learns_labels_from_the_answer(digits: Digits) -> None:
    store = DictStore()
    det = PradaDetector(store, label_field="label", max_classes=2)
    for i, label in enumerate([1, 2, 1]):
        req = _req(list(digits.x_test[i]))
        assert det.inspect(req).verdict is Verdict.ALLOW  # scoring only: no update yet
        assert det.filter(req, Response(200, {"label": label})).verdict is Verdict.ALLOW
    assert len(det._distances(det._base(_req(None)))) == 1  # only the second "1" had a peer
    refused = det.filter(_req(list(digits.x_test[5])), Response(200, {"label": 3}))
    assert refused.verdict is Verdict.BLOCK and "more than 2 classes" in refused.reasons[0]


def test_bad_configuration_is_refused() -> None:
    from bastion.core.errors import InputError

    with pytest.raises(InputError, match="min_queries"):
        PradaDetector(DictStore(), min_queries=5)
    with pytest.raises(InputError, match="scale"):
        PradaDetector(DictStore(), scale=[1.0, 0.0])


class _DownStore(DictStore):
    def items(self, key: str) -> list[bytes]:
        raise StorageError("redis: connection refused")


def test_an_unreachable_store_fails_closed(digits: Digits) -> None:
    det = PradaDetector(_DownStore())
    r = det.inspect(_req(list(digits.x_test[0])))
    assert r.verdict is Verdict.BLOCK and "state unavailable" in r.reasons[0]


def test_wide_vectors_are_refused_not_stored() -> None:
    store = MemoryStateStore()
    r = PradaDetector(store).inspect(_req([0.5] * 20_000))
    assert r.verdict is Verdict.BLOCK and "more than 16384" in r.reasons[0]


def test_per_class_mode_not_wired_as_a_filter_still_detects(digits: Digits) -> None:
    det = PradaDetector(MemoryStateStore(), label_field="label")  # inspect only, never filter
    base = digits.x_test[0]
    direction = np.ones(64) / 8.0
    results = [det.inspect(_req(list(base + 0.01 * k * direction))) for k in range(160)]
    assert results[-1].verdict is Verdict.BLOCK
    assert "add the detector to the endpoint's filters" in results[-1].reasons[-1]
