"""Metrics: the curve over epsilon, success rate, minimal perturbation, SVG charts, and
randomized-smoothing certification against its closed form."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy.stats import beta, norm

from bastion.robustness import (
    AttackSpec,
    CertifySpec,
    RobustnessError,
    TorchTarget,
    certify,
    clopper_pearson_lower,
    eps_key,
    evaluate,
)
from bastion.robustness.interface import Capability
from tests.robustness.conftest import Digits


def test_curve_success_rate_and_minimal_perturbation(digits: Digits) -> None:
    t = TorchTarget(digits.model, (64,))
    x, y = digits.x_test[:150], digits.y_test[:150]
    r = evaluate(t, x, y, eps=[0.03, 0.1, 0.3], spec=AttackSpec(steps=20))
    correct = int((t.predict_labels(x) == y).sum())
    for p in r.curve:
        fooled = round(p.success_rate * correct)
        assert p.accuracy == pytest.approx((correct - fooled) / len(x))
        assert p.max_perturbation <= p.eps * (1 + 1e-6)
    assert r.attack_success_rate == r.curve[-1].success_rate
    # Each fooled input's smallest-budget example is no larger than the budget that found it.
    assert r.mean_minimal_perturbation is not None
    assert 0 < r.mean_minimal_perturbation <= 0.3
    data = r.to_data()
    assert data["robust_accuracy_at"] == {
        "eps_0_03": r.curve[0].accuracy,
        "eps_0_1": r.curve[1].accuracy,
        "eps_0_3": r.curve[2].accuracy,
    }
    assert data["cost"]["gradient_evaluations"] > 0 and data["cost"]["cpu_seconds"] > 0


def test_eps_keys_are_condition_paths() -> None:
    assert eps_key(0.1) == "eps_0_1"
    assert eps_key(2.0) == "eps_2"
    assert eps_key(1e-05) == "eps_1em05"


def test_curve_svg_is_well_formed_and_deterministic(digits: Digits) -> None:
    t = TorchTarget(digits.model, (64,))
    r = evaluate(
        t, digits.x_test[:40], digits.y_test[:40], eps=[0.05, 0.1], spec=AttackSpec(steps=5)
    )
    a, b = r.curve_svg(), r.curve_svg()
    assert a == b
    root = ET.fromstring(a)
    assert root.tag.endswith("svg")
    assert "epsilon" in a and "accuracy under attack" in a


def _constant(k: int, cls: int) -> TorchTarget:
    import torch

    class Const(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = torch.zeros((x.shape[0], k)) + 0.0 * x.sum(dim=1, keepdim=True)
            z[:, cls] = 1.0
            return z

    return TorchTarget(Const(), (4,))


@pytest.mark.parametrize(("sigma", "n", "alpha"), [(0.25, 1000, 0.001), (1.0, 200, 0.01)])
def test_constant_classifier_radius_is_sigma_times_inverse_normal_of_the_bound(
    sigma: float, n: int, alpha: float
) -> None:
    t = _constant(3, 2)
    x = np.zeros((5, 4), dtype=np.float32)
    y = np.full(5, 2)
    r = certify(t, x, y, sigma=sigma, n0=50, n=n, alpha=alpha, seed=1)
    # Every vote goes to class 2: the Clopper-Pearson lower bound is alpha ** (1 / n).
    p_lower = float(beta.ppf(alpha, n, 1))
    assert p_lower == pytest.approx(alpha ** (1 / n))
    assert clopper_pearson_lower(n, n, alpha) == pytest.approx(p_lower)
    np.testing.assert_allclose(r.radii, sigma * norm.ppf(p_lower))
    assert (r.predictions == 2).all()
    assert r.certified_accuracy(0.0) == 1.0
    assert r.certified_accuracy(float(r.radii[0]) + 1e-9) == 0.0
    assert r.queries == 5 * (50 + n)


def test_smoothing_abstains_when_no_class_dominates() -> None:
    import torch

    class Coin(torch.nn.Module):  # the sign of the first (noisy) coordinate: 50/50 at 0
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([-x[:, 0], x[:, 0]], dim=1)

    t = TorchTarget(Coin(), (4,))
    r = certify(t, np.zeros((3, 4), np.float32), np.zeros(3), sigma=0.5, n0=50, n=500)
    assert (r.predictions == -1).all() and (r.radii == 0).all() and r.abstain_rate == 1.0


def test_certification_in_an_evaluation_reports_radii_and_histogram(digits: Digits) -> None:
    t = TorchTarget(digits.model, (64,))
    r = evaluate(
        t,
        digits.x_test[:30],
        digits.y_test[:30],
        eps=[0.1],
        spec=AttackSpec("fgsm"),
        certify_spec=CertifySpec(sigma=0.25, n0=50, n=500),
    )
    c = r.to_data()["certification"]
    acc = c["certified_accuracy"]
    assert acc["r_0"] >= acc["r_0_25"] >= acc["r_0_5"] >= acc["r_1"]
    assert sum(c["radius_histogram"]["counts"]) == pytest.approx(acc["r_0"] * 30)
    # The largest certifiable radius with n = 500 at alpha 0.001 bounds every radius.
    top = 0.25 * norm.ppf(0.001 ** (1 / 500))
    assert c["mean_certified_radius"] <= top + 1e-9
    svg = r.radius_svg()
    assert svg is not None and ET.fromstring(svg).tag.endswith("svg")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": math.nan}, "sigma"),
        ({"sigma": 0.5, "n": 0}, "n0 and n"),
        ({"sigma": 0.5, "alpha": 0.7}, "alpha"),
    ],
)
def test_certification_parameters_are_validated(kwargs: dict[str, float], match: str) -> None:
    t = _constant(2, 0)
    with pytest.raises(RobustnessError, match=match):
        certify(t, np.zeros((1, 4), np.float32), np.zeros(1), **kwargs)  # type: ignore[arg-type]


def test_certification_needs_labels_only(digits: Digits) -> None:
    from sklearn.svm import LinearSVC

    from bastion.robustness import SklearnTarget

    labels = SklearnTarget(LinearSVC().fit(digits.x_train[:300], digits.y_train[:300]))
    assert labels.capabilities == {Capability.LABELS}
    r = certify(labels, digits.x_test[:3], digits.y_test[:3], sigma=0.1, n0=20, n=100)
    assert r.predictions.shape == (3,)
