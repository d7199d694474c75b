"""pytest-bastion (issue 10 section 6): the assertions pass and fail on real models, and the
plugin loads through the package's pytest11 entry point in a fresh pytest process."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pytest

from bastion.robustness.pytest_plugin import (
    SecurityAssertions,
    as_target,
    assert_no_membership_leak,
    assert_robust,
)
from tests.robustness.conftest import Digits

pytest_plugins = ["pytester"]


def test_assert_robust_passes_and_fails_with_the_numbers(digits: Digits) -> None:
    data = (digits.x_test[:80], digits.y_test[:80])
    report = assert_robust(digits.model, data, attack="pgd", eps=0.02, steps=10, min_accuracy=0.5)
    assert report.robust_accuracy is not None and report.robust_accuracy >= 0.5
    with pytest.raises(AssertionError, match=r"robust accuracy under pgd \(linf\) at eps 0.3 is"):
        assert_robust(digits.model, data, attack="pgd", eps=[0.1, 0.3], steps=10, min_accuracy=0.9)


def test_an_untrustworthy_evaluation_fails_the_test(digits: Digits) -> None:
    """A model whose forward pass is random: attacked without expectation over
    transformation (eot=1) the validity check fails the assertion; by default EOT is on
    and the evaluation is valid."""
    import torch

    class Noisy(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x + 0.3 * torch.randn_like(x))

    data = (digits.x_test[:60], digits.y_test[:60])
    with pytest.raises(AssertionError, match=r"is not valid.*eot=1 was asked for"):
        assert_robust(Noisy(digits.model), data, eps=0.05, steps=5, min_accuracy=0.0, eot=1)
    report = assert_robust(Noisy(digits.model), data, eps=0.05, steps=5, min_accuracy=0.0)
    assert report.valid and report.to_data()["parameters"]["eot"] == 16


def test_assert_no_membership_leak_on_an_overfit_and_a_general_model() -> None:
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    tr, ho = idx[:300], idx[300:600]
    # Deep trees memorise the training set: loss on members ~0, the attack separates them.
    overfit = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[tr], y[tr])
    with pytest.raises(AssertionError, match=r"reaches AUC 0\.\d+ .*above 0.600"):
        assert_no_membership_leak(overfit, (x[tr], y[tr]), (x[ho], y[ho]), max_auc=0.6)
    # A strongly regularised linear model barely tells them apart.
    general = LogisticRegression(C=0.01, max_iter=500).fit(x[tr], y[tr])
    report = assert_no_membership_leak(general, (x[tr], y[tr]), (x[ho], y[ho]), max_auc=0.65)
    assert report.auc <= 0.65


def test_bad_models_and_data_are_refused_plainly() -> None:
    from bastion.robustness.interface import RobustnessError

    with pytest.raises(RobustnessError, match="is not a torch module"):
        as_target(object())
    with pytest.raises(AssertionError, match=r"expected \(inputs, labels\)"):
        assert_robust(object(), 3, eps=0.1, min_accuracy=0.5)  # type: ignore[arg-type]
    assert isinstance(SecurityAssertions(), SecurityAssertions)


def test_the_plugin_loads_by_entry_point_in_a_fresh_pytest(pytester: pytest.Pytester) -> None:
    assert any(
        ep.value == "bastion.robustness.pytest_plugin" for ep in entry_points(group="pytest11")
    )
    pytester.makepyfile(
        test_model="""
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression


@pytest.fixture(scope="module")
def split():
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    idx = np.random.default_rng(0).permutation(len(x))
    tr, ho = idx[:300], idx[300:600]
    return x[tr], y[tr], x[ho], y[ho]


@pytest.mark.bastion_security
def test_no_leak(bastion_security, split):
    xm, ym, xn, yn = split
    model = LogisticRegression(C=0.01, max_iter=500).fit(xm, ym)
    bastion_security.assert_no_membership_leak(model, (xm, ym), (xn, yn), max_auc=0.65)


@pytest.mark.bastion_security
def test_leak_is_caught(bastion_security, split):
    from sklearn.ensemble import RandomForestClassifier
    xm, ym, xn, yn = split
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(xm, ym)
    bastion_security.assert_no_membership_leak(model, (xm, ym), (xn, yn), max_auc=0.6)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "bastion_security",
                                           "--strict-markers")  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*membership inference (loss) reaches AUC*"])
