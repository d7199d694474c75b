"""The feature-squeezing stage wraps the robustness room's detector: PGD examples on the
digits MLP (the robustness tests' fixture) are blocked, benign digits pass near the
calibrated false positive rate."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.core.errors import InputError
from bastion.guard.detect import ATLAS_ADVERSARIAL_DATA, SqueezingDetector
from bastion.guard.interface import GuardRequest, InputDetector, Verdict
from bastion.robustness import AttackSpec, FeatureSqueezingDetector, TorchTarget, run_attack
from tests.robustness.conftest import Digits, train_digits_mlp


@pytest.fixture(scope="module")
def mlp() -> Digits:
    return train_digits_mlp()


def _req(x: np.ndarray | list[float] | None) -> GuardRequest:
    return GuardRequest("r", "m", "c", None, features=None if x is None else list(map(float, x)))


def test_adversarial_inputs_are_blocked_and_benign_ones_pass(mlp: Digits) -> None:
    target = TorchTarget(mlp.model, (64,))
    det = FeatureSqueezingDetector(target, image_shape=(8, 8))
    det.fit(mlp.x_test[:200], fpr=0.05)
    stage = SqueezingDetector(det)
    assert isinstance(stage, InputDetector)
    held_x, held_y = mlp.x_test[200:], mlp.y_test[200:]
    outcome = run_attack(target, held_x, held_y, 0.1, AttackSpec("pgd", steps=20))
    adv = outcome.x_adv[outcome.fooled]
    assert len(adv) > 100
    blocked = [stage.inspect(_req(x)) for x in adv]
    passed = [stage.inspect(_req(x)) for x in held_x]
    assert np.mean([r.verdict is Verdict.BLOCK for r in blocked]) > 0.7
    assert np.mean([r.verdict is not Verdict.ALLOW for r in passed]) <= 0.10
    hit = next(r for r in blocked if r.verdict is Verdict.BLOCK)
    assert hit.techniques == (ATLAS_ADVERSARIAL_DATA,)
    assert hit.score == pytest.approx(float(det.score(adv[[blocked.index(hit)]])[0]), abs=1e-6)


def test_the_stage_fails_closed_and_refuses_an_uncalibrated_detector(mlp: Digits) -> None:
    target = TorchTarget(mlp.model, (64,))
    with pytest.raises(InputError, match="calibrate"):
        SqueezingDetector(FeatureSqueezingDetector(target, image_shape=(8, 8)))
    stage = SqueezingDetector(
        FeatureSqueezingDetector(target, image_shape=(8, 8), threshold=0.5),
        on_detect=Verdict.STEP_UP,
    )
    assert stage.inspect(_req(None)).verdict is Verdict.ALLOW
    wrong = stage.inspect(_req([0.5] * 10))
    assert wrong.verdict is Verdict.STEP_UP and wrong.reasons[0].startswith("refused")
    assert stage.inspect(_req([float("nan")] * 64)).verdict is Verdict.STEP_UP
