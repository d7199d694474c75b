"""The native-tensor core: budgets, determinism, input-only gradients, constraints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from bastion.robustness import (
    AttackSpec,
    FeatureConstraints,
    Norm,
    SklearnTarget,
    TorchTarget,
    auto_batch_size,
    evaluate,
    run_attack,
)
from tests.robustness.conftest import Credit, Digits


def _correct(digits: Digits, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    t = TorchTarget(digits.model, (64,))
    x, y = digits.x_test[:n], digits.y_test[:n]
    ok = t.predict_labels(x) == y
    return x[ok], y[ok]


@pytest.mark.parametrize("norm", [Norm.LINF, Norm.L2])
def test_pgd_accuracy_falls_as_epsilon_grows(digits: Digits, norm: Norm) -> None:
    t = TorchTarget(digits.model, (64,))
    eps = [0.02, 0.05, 0.1, 0.2] if norm is Norm.LINF else [0.25, 0.5, 1.0, 2.0]
    r = evaluate(t, digits.x_test[:200], digits.y_test[:200], eps=eps, spec=AttackSpec(norm=norm))
    acc = [p.accuracy for p in r.curve]
    assert r.clean_accuracy > 0.9
    assert acc == sorted(acc, reverse=True) and acc[0] < r.clean_accuracy
    assert acc[-1] < 0.1
    assert r.valid and r.robust_accuracy == acc[-1]


@pytest.mark.parametrize(
    ("name", "norm"), [("pgd", Norm.LINF), ("pgd", Norm.L2), ("fgsm", Norm.LINF)]
)
def test_perturbations_stay_inside_the_budget_and_the_clip_range(
    digits: Digits, name: str, norm: Norm
) -> None:
    x, y = _correct(digits, 100)
    t = TorchTarget(digits.model, (64,))
    eps = 0.1 if norm is Norm.LINF else 0.8
    o = run_attack(t, x, y, eps, AttackSpec(name, norm=norm, steps=10))
    d = (o.x_adv - x).reshape(len(x), -1)
    size = np.abs(d).max(axis=1) if norm is Norm.LINF else np.linalg.norm(d, axis=1)
    assert size.max() <= eps * (1 + 1e-5)
    assert o.x_adv.min() >= 0.0 and o.x_adv.max() <= 1.0
    np.testing.assert_allclose(o.perturbation, size, rtol=1e-4, atol=1e-6)
    # Every input it calls fooled is misclassified by the model.
    assert (t.predict_labels(o.x_adv[o.fooled]) != y[o.fooled]).all()


def test_pgd_is_deterministic_for_a_seed(digits: Digits) -> None:
    x, y = _correct(digits, 60)
    t = TorchTarget(digits.model, (64,))
    a = run_attack(t, x, y, 0.05, AttackSpec(steps=5, seed=3))
    b = run_attack(t, x, y, 0.05, AttackSpec(steps=5, seed=3))
    c = run_attack(t, x, y, 0.05, AttackSpec(steps=5, seed=4))
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    assert not np.array_equal(a.x_adv, c.x_adv)


def test_gradients_never_flow_into_parameters(digits: Digits) -> None:
    x, y = _correct(digits, 40)
    model = digits.model
    for p in model.parameters():
        p.grad = None
    run_attack(TorchTarget(model, (64,)), x, y, 0.1, AttackSpec(steps=3))
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards


def test_automatic_batch_size_is_bounded_and_gives_the_same_success(digits: Digits) -> None:
    assert auto_batch_size((64,)) == 1024
    assert auto_batch_size((3, 1024, 1024)) == 1
    x, y = _correct(digits, 100)
    t = TorchTarget(digits.model, (64,))
    auto = run_attack(t, x, y, 0.3, AttackSpec("fgsm"))
    small = run_attack(t, x, y, 0.3, AttackSpec("fgsm", batch_size=7))
    np.testing.assert_allclose(auto.x_adv, small.x_adv, atol=1e-6)


def test_square_attack_needs_only_scores_and_lowers_accuracy(digits: Digits) -> None:
    lr = LogisticRegression(max_iter=300).fit(digits.x_train, digits.y_train)
    t = SklearnTarget(lr)
    r = evaluate(
        t,
        digits.x_test[:80],
        digits.y_test[:80],
        eps=[0.1, 0.3],
        spec=AttackSpec("square", queries=200),
    )
    assert r.curve[-1].accuracy < r.curve[0].accuracy < r.clean_accuracy
    assert r.queries > 80 and r.gradient_evaluations == 0
    assert max(p.max_perturbation for p in r.curve) <= 0.3 + 1e-6


def test_tabular_constraints_hold_on_the_credit_model(credit: Credit) -> None:
    names = list(credit.features)
    x = credit.x[:150]
    y = credit.y[:150]
    lo, hi = x.min(axis=0), x.max(axis=0)
    immutable = (names.index("age"),)
    integer = tuple(
        names.index(n) for n in ("employment_years", "credit_history_months", "num_delinquencies")
    )
    one_hot = (tuple(i for i, n in enumerate(names) if n.startswith("purpose_")),)
    scale = tuple(float(max(h - low, 1.0)) for low, h in zip(lo, hi, strict=True))
    c = FeatureConstraints(
        immutable=immutable,
        lower=tuple(float(v) for v in lo),
        upper=tuple(float(v) for v in hi),
        integer=integer,
        one_hot=one_hot,
        scale=scale,
    )
    t = TorchTarget(credit.mlp, (len(names),))
    spec = AttackSpec(constraints=c, clip_min=float(lo.min()), clip_max=float(hi.max()))
    r = evaluate(t, x, y, eps=[0.05, 0.2], spec=spec)
    assert r.curve[-1].accuracy < r.clean_accuracy  # the attack still finds examples
    ok = t.predict_labels(x) == y
    o = run_attack(t, x[ok], y[ok], 0.2, spec)
    adv = o.x_adv
    np.testing.assert_array_equal(adv[:, immutable], x[ok][:, immutable])
    for i in integer:
        np.testing.assert_array_equal(adv[:, i], np.round(adv[:, i]))
    g = list(one_hot[0])
    np.testing.assert_array_equal(adv[:, g].sum(axis=1), 1.0)
    assert set(np.unique(adv[:, g])) <= {0.0, 1.0}
    assert (adv >= lo - 1e-4).all() and (adv <= hi + 1e-4).all()
    rel = np.abs(adv - x[ok]) / np.asarray(scale)
    mutable = [i for i in range(len(names)) if i not in g]
    assert rel[:, mutable].max() <= 0.2 + 1e-5


def test_constraints_naming_absent_features_are_refused(digits: Digits) -> None:
    from bastion.robustness import RobustnessError

    t = TorchTarget(digits.model, (64,))
    with pytest.raises(RobustnessError, match=r"outside 0\.\.63"):
        evaluate(
            t,
            digits.x_test[:5],
            digits.y_test[:5],
            eps=[0.1],
            spec=AttackSpec(constraints=FeatureConstraints(immutable=(64,))),
        )


def test_torch_generator_state_is_not_global(digits: Digits) -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    x, y = _correct(digits, 20)
    run_attack(TorchTarget(digits.model, (64,)), x, y, 0.1, AttackSpec(steps=2))
    assert torch.rand(1) == before


def test_hopskipjump_needs_labels_only_and_lowers_accuracy(digits: Digits) -> None:
    from sklearn.svm import LinearSVC

    from bastion.robustness import Capability

    svc = SklearnTarget(LinearSVC().fit(digits.x_train, digits.y_train))
    assert svc.capabilities == {Capability.LABELS}
    x, y = digits.x_test[:40], digits.y_test[:40]
    spec = AttackSpec("hopskipjump", norm=Norm.L2, queries=600, seed=1)
    r = evaluate(svc, x, y, eps=[0.5, 2.0], spec=spec)
    assert r.curve[0].accuracy < r.clean_accuracy and r.curve[-1].accuracy < 0.2
    assert r.gradient_evaluations == 0 and r.queries > 40 * 600  # every label query counted
    ok = svc.predict_labels(x) == y
    o = run_attack(svc, x[ok], y[ok], 2.0, spec)
    d = np.linalg.norm((o.x_adv - x[ok]).reshape(len(o.x_adv), -1), axis=1)
    assert d.max() <= 2.0 * (1 + 1e-5) and o.x_adv.min() >= 0 and o.x_adv.max() <= 1
    assert (svc.predict_labels(o.x_adv[o.fooled]) != y[ok][o.fooled]).all()
    again = run_attack(svc, x[ok], y[ok], 2.0, spec)
    np.testing.assert_array_equal(o.x_adv, again.x_adv)  # deterministic for the seed


def test_square_attack_on_the_credit_gbm_respects_the_constraints(credit: Credit) -> None:
    from bastion.robustness import load_target

    gbm = load_target(credit.gbm_path).target  # the scanned-safe pickle, as shipped
    names = list(credit.features)
    x, y = credit.x[:120], credit.y[:120]
    lo, hi = x.min(axis=0), x.max(axis=0)
    integer = tuple(names.index(n) for n in ("employment_years", "num_delinquencies"))
    c = FeatureConstraints(
        immutable=(names.index("age"),),
        lower=tuple(float(v) for v in lo),
        upper=tuple(float(v) for v in hi),
        integer=integer,
        one_hot=(tuple(i for i, n in enumerate(names) if n.startswith("purpose_")),),
        scale=tuple(float(max(h - low, 1.0)) for low, h in zip(lo, hi, strict=True)),
    )
    spec = AttackSpec("square", queries=150, constraints=c, clip_min=float(lo.min()),
                      clip_max=float(hi.max()))  # fmt: skip
    r = evaluate(gbm, x, y, eps=[0.05, 0.2], spec=spec)
    assert r.curve[-1].accuracy < r.clean_accuracy
    ok = gbm.predict_labels(x) == y
    o = run_attack(gbm, x[ok], y[ok], 0.2, spec)
    np.testing.assert_array_equal(o.x_adv[:, names.index("age")], x[ok][:, names.index("age")])
    for i in integer:
        np.testing.assert_array_equal(o.x_adv[:, i], np.round(o.x_adv[:, i]))
    assert (o.x_adv >= lo).all() and (o.x_adv <= hi).all()
