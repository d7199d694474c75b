"""Poisoning and extraction (issue 10 section 2): a 5% BadNets backdoor on digits reaches a
high attack success rate at unchanged clean accuracy and is found by activation
clustering and spectral signatures; label flipping costs accuracy; a surrogate trained
on the target's answers agrees with it more as the query budget grows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from bastion.robustness import (
    FeatureTrigger,
    PatchTrigger,
    RobustnessError,
    SklearnTarget,
    TorchTarget,
    TrainSpec,
    activation_clustering,
    activations,
    attack_success_rate,
    backdoor_poison,
    extract_model,
    flip_labels,
    mlp,
    spectral_signatures,
    train_classifier,
)
from tests.robustness.conftest import Digits

TRIGGER = PatchTrigger((8, 8), size=2, value=1.0)


def _train(x: Any, y: Any) -> torch.nn.Sequential:
    module = mlp(64, 10, (64,), seed=0)
    train_classifier(module, x, y, input_shape=(64,), spec=TrainSpec(epochs=30))
    return module


@pytest.fixture(scope="module")
def backdoored(digits: Digits) -> tuple[torch.nn.Sequential, Any, Any, Any]:
    xp, yp, idx = backdoor_poison(
        digits.x_train, digits.y_train, 0.05, trigger=TRIGGER, target_class=0
    )
    return _train(xp, yp), xp, yp, idx


def test_backdoor_reaches_its_target_class_and_clean_models_do_not(
    digits: Digits, backdoored: tuple[torch.nn.Sequential, Any, Any, Any]
) -> None:
    module, xp, yp, idx = backdoored
    assert len(idx) == 70 and (yp[idx] == 0).all() and (digits.y_train[idx] != 0).all()
    assert (xp[idx].reshape(-1, 8, 8)[:, 6:, 6:] == 1.0).all()
    poisoned = TorchTarget(module, (64,))
    clean_acc = float((poisoned.predict_labels(digits.x_test) == digits.y_test).mean())
    assert clean_acc > 0.93  # the backdoor hides: clean accuracy unchanged
    asr = attack_success_rate(
        poisoned, digits.x_test, digits.y_test, trigger=TRIGGER, target_class=0
    )
    assert asr > 0.9
    clean = TorchTarget(digits.model, (64,))
    assert (
        attack_success_rate(clean, digits.x_test, digits.y_test, trigger=TRIGGER, target_class=0)
        < 0.1
    )


def test_activation_clustering_and_spectral_signatures_find_the_poison(
    backdoored: tuple[torch.nn.Sequential, Any, Any, Any],
) -> None:
    module, xp, yp, idx = backdoored
    acts = activations(module, xp)
    assert acts.shape == (len(xp), 64)
    ac = activation_clustering(acts, yp, poisoned=idx)
    assert 0 in ac.flagged_classes
    assert ac.recall is not None and ac.recall > 0.8
    assert ac.precision is not None and ac.precision > len(idx) / len(xp)  # beats chance
    # The poison is a third of class 0: spectral signatures told to expect that much.
    ss = spectral_signatures(acts, yp, expected_rate=0.35, poisoned=idx)
    assert ss.recall is not None and ss.recall > 0.7
    assert ss.to_dict()["flagged"] == len(ss.flagged)


def test_label_flipping_costs_accuracy(digits: Digits) -> None:
    flipped, idx = flip_labels(digits.y_train, 0.4, n_classes=10, seed=1)
    assert len(idx) == 560 and (flipped[idx] != digits.y_train[idx]).all()
    assert (np.delete(flipped, idx) == np.delete(digits.y_train, idx)).all()
    poisoned = TorchTarget(_train(digits.x_train, flipped), (64,))
    clean = TorchTarget(digits.model, (64,))
    acc = float((poisoned.predict_labels(digits.x_test) == digits.y_test).mean())
    base = float((clean.predict_labels(digits.x_test) == digits.y_test).mean())
    assert acc < base - 0.03
    to_one, idx1 = flip_labels(digits.y_train, 0.1, n_classes=10, target_class=3)
    assert (to_one[idx1] == 3).all() and (digits.y_train[idx1] != 3).all()


def test_extraction_fidelity_grows_with_the_query_budget(digits: Digits) -> None:
    target = TorchTarget(digits.model, (64,))
    r = extract_model(target, digits.x_train, digits.x_test, digits.y_test, budgets=(30, 300, 1000))
    assert r.answers == "probabilities"
    fid = [p.fidelity for p in r.curve]
    assert fid[0] < fid[-1] and fid[-1] > 0.9
    assert r.queries == 1000 + len(digits.x_test)
    assert r.curve_svg().startswith("<?xml")
    assert set(r.to_data()["fidelity_at"]) == {"q_30", "q_300", "q_1000"}


def test_extraction_from_labels_only(digits: Digits) -> None:
    from sklearn.svm import LinearSVC

    svc = LinearSVC().fit(digits.x_train[:700], digits.y_train[:700])
    r = extract_model(
        SklearnTarget(svc), digits.x_train[700:], digits.x_test, digits.y_test, budgets=(50, 600)
    )
    assert r.answers == "labels" and r.curve[-1].fidelity > 0.85


def test_bad_input_is_refused(digits: Digits) -> None:
    target = TorchTarget(digits.model, (64,))
    with pytest.raises(RobustnessError, match="rate"):
        flip_labels(digits.y_train, 1.5, n_classes=10)
    with pytest.raises(RobustnessError, match="classes"):
        flip_labels(digits.y_train, 0.1, n_classes=5)
    with pytest.raises(RobustnessError, match="image_shape"):
        PatchTrigger((8,), size=2)
    with pytest.raises(RobustnessError, match="feature outside"):
        FeatureTrigger([99], [1.0])(digits.x_test[:2])
    with pytest.raises(RobustnessError, match="pool holds"):
        extract_model(target, digits.x_train[:10], digits.x_test, digits.y_test, budgets=(50,))
    with pytest.raises(RobustnessError, match="increasing"):
        extract_model(target, digits.x_train, digits.x_test, digits.y_test, budgets=(300, 100))
    with pytest.raises(RobustnessError, match="Sequential"):
        activations(torch.nn.Linear(64, 10), digits.x_test[:3])
