"""Expectation over transformation: a random forward pass is detected and the gradient
attacks then average several gradient samples per step; against a randomized-smoothing-
style noisy model that finds adversarial examples plain PGD misses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from bastion.robustness._attacks import run_attack
from bastion.robustness._evaluate import EOT_SAMPLES, evaluate
from bastion.robustness._targets import TorchTarget
from bastion.robustness.interface import AttackSpec, RobustnessError
from tests.robustness.conftest import Digits


class Noisy(torch.nn.Module):
    """Gaussian noise on the input before the model: the base of randomized smoothing."""

    def __init__(self, model: torch.nn.Module, sigma: float) -> None:
        super().__init__()
        self.model, self.sigma = model, sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x + self.sigma * torch.randn_like(x))
        return out


def _smoothed(t: TorchTarget, x: NDArray[np.float32], draws: int = 64) -> NDArray[np.int64]:
    """The noisy model's expected prediction (mean softmax over many draws)."""
    with torch.no_grad():
        xt = torch.from_numpy(x)
        p = sum((torch.softmax(t.logits(xt), dim=1) for _ in range(draws)), torch.zeros(()))
    out: NDArray[np.int64] = p.argmax(dim=1).numpy().astype(np.int64)
    return out


def test_eot_pgd_lowers_the_robust_accuracy_of_a_noisy_model(digits: Digits) -> None:
    t = TorchTarget(Noisy(digits.model, 0.3), (64,))
    torch.manual_seed(0)
    x, y = digits.x_test[:200], digits.y_test[:200]
    ok = _smoothed(t, x) == y
    x, y = x[ok], y[ok]
    assert len(x) > 150
    robust = {}
    for eot in (1, EOT_SAMPLES):
        torch.manual_seed(1)
        o = run_attack(t, x, y, 0.1, AttackSpec(name="pgd", steps=10, eot=eot))
        assert o.gradient_evaluations == 10 * eot * len(x)
        torch.manual_seed(2)
        robust[eot] = float((_smoothed(t, o.x_adv) == y).mean())
    # Plain PGD follows one noise draw's gradient; EOT follows the expected gradient.
    assert robust[EOT_SAMPLES] < robust[1] - 0.1, robust


def test_a_random_forward_pass_turns_eot_on_and_the_report_says_so(digits: Digits) -> None:
    t = TorchTarget(Noisy(digits.model, 0.3), (64,))
    torch.manual_seed(0)
    r = evaluate(t, digits.x_test[:40], digits.y_test[:40], eps=[0.1], spec=AttackSpec(steps=5))
    data = r.to_data()
    assert data["parameters"]["eot"] == EOT_SAMPLES
    (det,) = (v for v in r.validity if v.name == "deterministic_forward")
    assert det.passed and f"{EOT_SAMPLES} gradient samples averaged per step" in det.detail
    # Every attacked input took EOT_SAMPLES gradients at each of the 5 steps.
    assert r.gradient_evaluations > 0 and r.gradient_evaluations % (5 * EOT_SAMPLES) == 0
    # A deterministic model is not slowed down: one sample per step.
    plain = evaluate(
        TorchTarget(digits.model, (64,)), digits.x_test[:40], digits.y_test[:40], eps=[0.1],
        spec=AttackSpec(steps=5), cross_check=0,
    )  # fmt: skip
    assert plain.to_data()["parameters"]["eot"] == 1
    # eot given explicitly is used as given.
    r4 = evaluate(
        t, digits.x_test[:20], digits.y_test[:20], eps=[0.1], spec=AttackSpec(steps=2, eot=4)
    )
    assert r4.to_data()["parameters"]["eot"] == 4
    with pytest.raises(RobustnessError, match="eot must lie"):
        evaluate(t, digits.x_test[:5], digits.y_test[:5], eps=[0.1], spec=AttackSpec(eot=0))
