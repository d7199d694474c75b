"""Is the evaluation itself valid? Each failure withholds the robust accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bastion.robustness import AttackSpec, RobustnessError, TorchTarget, evaluate
from tests.robustness.conftest import Digits


def _failed(report: object) -> set[str]:
    return {v.name for v in report.validity if not v.passed}  # type: ignore[attr-defined]


class _Quantised(torch.nn.Module):
    """A digits MLP behind input quantisation: correct, but its gradient is zero."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.round(x * 4) / 4
        return self.inner(q)


def test_vanishing_gradients_are_a_failed_validity_check(digits: Digits) -> None:
    t = TorchTarget(_Quantised(digits.model), (64,))
    spec = AttackSpec(steps=5, random_start=False)
    r = evaluate(t, digits.x_test[:80], digits.y_test[:80], eps=[0.05, 0.1], spec=spec)
    assert {"gradients", "budget_reached"} <= _failed(r)
    assert not r.valid and r.robust_accuracy is None
    assert r.to_data()["robust_accuracy_at"] == {}


def test_a_black_box_attack_beating_the_white_box_one_is_a_failed_validity_check(
    digits: Digits,
) -> None:
    t = TorchTarget(_Quantised(digits.model), (64,))
    spec = AttackSpec(steps=10)
    r = evaluate(t, digits.x_test[:100], digits.y_test[:100], eps=[0.2], spec=spec, cross_check=60)
    check = next(v for v in r.validity if v.name == "black_box_vs_white_box")
    assert not check.passed and "beats the white-box one" in check.detail
    # Off when asked, and never for a target without scores.
    r = evaluate(t, digits.x_test[:100], digits.y_test[:100], eps=[0.2], spec=spec, cross_check=0)
    assert "black_box_vs_white_box" not in {v.name for v in r.validity}


def test_accuracy_that_does_not_fall_at_half_the_range_is_not_trusted(digits: Digits) -> None:
    t = TorchTarget(_Quantised(digits.model), (64,))
    spec = AttackSpec(steps=3, random_start=False)
    r = evaluate(t, digits.x_test[:60], digits.y_test[:60], eps=[0.5], spec=spec)
    assert "accuracy_falls" in _failed(r)
    assert r.curve[-1].accuracy == r.clean_accuracy


class _Periodic(torch.nn.Module):
    """One input; class 1 where sin(2 pi x) > 0. FGSM overshoots back into class 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 10 * torch.sin(2 * torch.pi * x[:, :1])
        return torch.cat([-z, z], dim=1)


def test_robust_accuracy_rising_with_epsilon_is_a_failed_validity_check() -> None:
    t = TorchTarget(_Periodic(), (1,))
    x = np.linspace(0.14, 0.21, 50, dtype=np.float32).reshape(-1, 1)
    y = np.ones(50)
    r = evaluate(t, x, y, eps=[0.3, 0.75], spec=AttackSpec("fgsm", clip_min=-1.0, clip_max=1.0))
    assert [p.accuracy for p in r.curve] == [0.0, 1.0]
    assert "monotone" in _failed(r)
    assert r.robust_accuracy is None


def test_an_attack_that_never_reaches_its_budget_is_a_failed_validity_check(
    digits: Digits,
) -> None:
    t = TorchTarget(digits.model, (64,))
    spec = AttackSpec(steps=2, step_size=1e-4, random_start=False)
    r = evaluate(t, digits.x_test[:80], digits.y_test[:80], eps=[0.1], spec=spec)
    # A crippled PGD is also beaten by the black-box cross-check.
    assert _failed(r) == {"budget_reached", "black_box_vs_white_box"}
    detail = next(v.detail for v in r.validity if v.name == "budget_reached")
    assert "never reaches its budget at eps 0.1" in detail


def test_a_random_forward_pass_is_a_failed_validity_check(digits: Digits) -> None:
    noisy = torch.nn.Sequential(torch.nn.Dropout(0.5), digits.model)
    t = TorchTarget(noisy, (64,))
    t.module.train()  # dropout left on: the forward pass is random
    try:
        # eot=1 asked for: the attack follows one random draw's gradient, not trusted.
        spec = AttackSpec(steps=3, eot=1)
        r = evaluate(t, digits.x_test[:40], digits.y_test[:40], eps=[0.1], spec=spec)
        # The Square attack has no EOT here: a random forward pass fails it too.
        sq = evaluate(
            t, digits.x_test[:20], digits.y_test[:20], eps=[0.1],
            spec=AttackSpec(name="square", queries=20), cross_check=0,
        )  # fmt: skip
    finally:
        noisy.eval()
    assert "deterministic_forward" in _failed(r)
    assert "eot=1 was asked for" in next(v.detail for v in r.validity if not v.passed)
    assert "deterministic_forward" in _failed(sq)


def test_a_sound_evaluation_passes_every_validity_check(digits: Digits) -> None:
    t = TorchTarget(digits.model, (64,))
    r = evaluate(
        t, digits.x_test[:80], digits.y_test[:80], eps=[0.05, 0.1, 0.5], spec=AttackSpec(steps=10)
    )
    names = {v.name for v in r.validity}
    assert names == {
        "deterministic_forward",
        "gradients",
        "monotone",
        "budget_reached",
        "accuracy_falls",
        "black_box_vs_white_box",
    }
    assert r.valid and r.robust_accuracy == r.curve[-1].accuracy


@pytest.mark.parametrize(
    ("x", "y", "eps", "spec", "match"),
    [
        (np.zeros((4, 63), np.float32), np.zeros(4), [0.1], AttackSpec(), "do not match the model"),
        (np.zeros((4, 64), np.float32), np.zeros(3), [0.1], AttackSpec(), "3 labels for 4"),
        (np.zeros((4, 64), np.float32), np.full(4, 10), [0.1], AttackSpec(), "outside the model"),
        (np.full((4, 64), 2.0, np.float32), np.zeros(4), [0.1], AttackSpec(), "valid range"),
        (
            np.zeros((4, 64), np.float32),
            np.zeros(4),
            [1.5],
            AttackSpec(),
            "outside the data's range",
        ),
        (
            np.zeros((4, 64), np.float32),
            np.zeros(4),
            [-0.1],
            AttackSpec(),
            "outside the data's range",
        ),
        (np.zeros((4, 64), np.float32), np.zeros(4), [0.2, 0.1], AttackSpec(), "increasing"),
        (np.zeros((4, 64), np.float32), np.zeros(4), [0.1], AttackSpec("nope"), "unknown attack"),
        (np.zeros((4, 64), np.float32), np.zeros(4), [0.1], AttackSpec(steps=0), "steps"),
        (np.full((4, 64), np.nan, np.float32), np.zeros(4), [0.1], AttackSpec(), "finite"),
    ],
)
def test_bad_input_is_refused_before_any_work(
    digits: Digits, x: np.ndarray, y: np.ndarray, eps: list[float], spec: AttackSpec, match: str
) -> None:
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            calls.append(len(inp))
            return digits.model(inp)

    t = TorchTarget(Counting(), (64,))
    calls.clear()
    with pytest.raises(RobustnessError, match=match):
        evaluate(t, x, y, eps=eps, spec=spec)
    assert calls == []  # not one forward pass
