"""``pytest-bastion``: security thresholds next to the training code (issue 10 section 6).

Registered as a pytest plugin through the package's ``pytest11`` entry point, so any
project with Bastion installed can write::

    from bastion.robustness.pytest_plugin import assert_robust, assert_no_membership_leak

    def test_model_is_robust(model, test_data):
        assert_robust(model, test_data, attack="pgd", eps=0.1, min_accuracy=0.6)

    def test_model_does_not_leak(model, train, holdout):
        assert_no_membership_leak(model, train, holdout, max_auc=0.6)

or take the ``bastion_security`` fixture (the same two functions) and mark such tests
``@pytest.mark.bastion_security`` to select them (``pytest -m bastion_security``).

A model is a PyTorch module (logits), a fitted scikit-learn classifier, or a ready
robustness ``Target``. The assertions run the robustness room's own evaluation (with
its validity checks: an evaluation that cannot be trusted fails the test, it never passes
it) and membership inference, and fail with the numbers and their confidence interval.
Importing this module is cheap: torch and scikit-learn load on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from bastion.robustness._evaluate import EvaluationReport
    from bastion.robustness._membership import MembershipReport
    from bastion.robustness.interface import Target

__all__ = ["SecurityAssertions", "as_target", "assert_no_membership_leak", "assert_robust"]

Data = tuple[Any, Any]


def as_target(model: Any, x: Any | None = None) -> Target:
    """A robustness target for ``model``: a Target as it is, a torch module (its input
    shape from ``x``), or a fitted scikit-learn classifier."""
    from bastion.robustness.interface import RobustnessError, Target

    if isinstance(model, Target):
        return model
    try:
        import torch
    except ImportError:  # pragma: no cover - the ml extra brings torch
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(model, torch.nn.Module):
        from bastion.robustness._targets import TorchTarget

        if x is None:
            raise RobustnessError("a torch module needs data to take its input shape from")
        return TorchTarget(model, tuple(np.asarray(x).shape[1:]))
    if hasattr(model, "predict") and hasattr(model, "classes_"):
        from bastion.robustness._targets import SklearnTarget

        return SklearnTarget(model)
    raise RobustnessError(
        f"{type(model).__name__} is not a torch module, a fitted scikit-learn classifier "
        "or a robustness Target"
    )


def _xy(data: Data, what: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    try:
        x, y = data
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected (inputs, labels)") from None
    return np.asarray(x), np.asarray(y)


def assert_robust(
    model: Any,
    data: Data,
    *,
    attack: str = "pgd",
    eps: float | Sequence[float],
    min_accuracy: float,
    norm: str = "linf",
    steps: int = 40,
    queries: int = 1000,
    samples: int | None = None,
    seed: int = 0,
    clip: tuple[float, float] = (0.0, 1.0),
    eot: int | None = None,
) -> EvaluationReport:
    """Fail unless the accuracy under ``attack`` at the largest ``eps`` is at least
    ``min_accuracy``, on a valid evaluation. Returns the report. ``eot``: gradient
    samples per step (None: 16 when the model's forward pass is random, else 1)."""
    from bastion.robustness._evaluate import evaluate
    from bastion.robustness.interface import AttackSpec, Norm

    x, y = _xy(data, "data")
    if samples is not None:
        x, y = x[:samples], y[:samples]
    grid = (float(eps),) if isinstance(eps, (int, float)) else tuple(float(e) for e in eps)
    spec = AttackSpec(name=attack, norm=Norm(norm), steps=steps, queries=queries, seed=seed,
                      clip_min=clip[0], clip_max=clip[1], eot=eot)  # fmt: skip
    report = evaluate(as_target(model, x), x, y, eps=grid, spec=spec, cross_check=0)
    failed = [v for v in report.validity if not v.passed]
    if failed:
        why = "; ".join(f"{v.name}: {v.detail}" for v in failed)
        raise AssertionError(
            f"the {attack} evaluation is not valid, so its robust accuracy cannot be trusted: {why}"
        )
    got = report.robust_accuracy
    assert got is not None
    if got < min_accuracy:
        curve = ", ".join(f"eps {p.eps:g}: {p.accuracy:.3f}" for p in report.curve)
        raise AssertionError(
            f"robust accuracy under {attack} ({norm}) at eps {grid[-1]:g} is {got:.3f}, below "
            f"{min_accuracy:.3f} (clean {report.clean_accuracy:.3f}; {curve}; "
            f"{len(x)} inputs)"
        )
    return report


def assert_no_membership_leak(
    model: Any,
    train: Data,
    holdout: Data,
    *,
    max_auc: float = 0.6,
    attack: str = "loss",
    bootstrap: int = 200,
    seed: int = 0,
) -> MembershipReport:
    """Fail when a membership-inference attack tells ``train`` (the model's training
    points) from ``holdout`` (points it never saw) with an AUC above ``max_auc``."""
    from bastion.robustness._membership import membership_inference

    xm, ym = _xy(train, "train")
    xn, yn = _xy(holdout, "holdout")
    report = membership_inference(as_target(model, xm), (xm, ym), (xn, yn), attack=attack,
                                  bootstrap=bootstrap, seed=seed)  # fmt: skip
    if report.auc > max_auc:
        lo, hi = report.auc_ci
        raise AssertionError(
            f"membership inference ({attack}) reaches AUC {report.auc:.3f} "
            f"(95% CI {lo:.3f}-{hi:.3f}), above {max_auc:.3f}: the model leaks which points it "
            f"was trained on ({len(xm)} members, {len(xn)} non-members; empirical epsilon "
            f">= {report.empirical_epsilon:.2f})"
        )
    return report


@dataclass(frozen=True)
class SecurityAssertions:
    """What the ``bastion_security`` fixture gives."""

    def assert_robust(self, model: Any, data: Data, **kw: Any) -> EvaluationReport:
        return assert_robust(model, data, **kw)

    def assert_no_membership_leak(
        self, model: Any, train: Data, holdout: Data, **kw: Any
    ) -> MembershipReport:
        return assert_no_membership_leak(model, train, holdout, **kw)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bastion_security: a security threshold test (robustness, privacy leakage)"
    )


@pytest.fixture
def bastion_security() -> SecurityAssertions:
    """The security assertions: ``bastion_security.assert_robust(...)`` and
    ``bastion_security.assert_no_membership_leak(...)``."""
    return SecurityAssertions()
