"""Membership and attribute inference (issue 10 section 2, inference): against a heavily
overfit model the AUC is well above 0.5, against a DP-trained one close to 0.5 (the
issue's correctness rule), with the accountant's epsilon beside the empirical bound."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import LinearSVC

from bastion.core.types import Verdict
from bastion.robustness import (
    Capability,
    MembershipCheck,
    RobustnessError,
    SklearnTarget,
    attribute_inference,
    dp_guarantee,
    membership_inference,
    plan_shadow_models,
    sklearn_trainer,
)
from tests._cli import Run, start
from tests.robustness.conftest import Digits


def _splits(digits: Digits) -> dict[str, tuple[NDArray[Any], NDArray[Any]]]:
    x = np.concatenate([digits.x_train, digits.x_test])
    y = np.concatenate([digits.y_train, digits.y_test])
    return {
        "members": (x[:300], y[:300]),
        "nonmembers": (x[300:600], y[300:600]),
        "population": (x[600:1000], y[600:1000]),
    }


@pytest.fixture(scope="module")
def overfit(digits: Digits) -> tuple[RandomForestClassifier, dict[str, Any]]:
    s = _splits(digits)
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(*s["members"])
    return rf, s


def test_loss_attack_on_an_overfit_model_is_well_above_chance(
    overfit: tuple[RandomForestClassifier, dict[str, Any]],
) -> None:
    rf, s = overfit
    r = membership_inference(SklearnTarget(rf), s["members"], s["nonmembers"], bootstrap=100)
    assert r.auc > 0.75
    assert r.auc_ci[0] < r.auc < r.auc_ci[1] and r.auc_ci[0] > 0.7
    assert set(r.tpr_at) == {"fpr_0_001", "fpr_0_01"}
    # 300 non-members resolve FPRs down to 1/300: 0.1% is below it, 1% is not.
    assert r.resolution == {"fpr_0_001": False, "fpr_0_01": True}
    assert any("below the sample's resolution" in w for w in r.warnings)
    assert 0 < r.advantage < 1 and r.empirical_epsilon > 0
    assert r.queries == 600 and r.roc_svg().startswith("<?xml")


def test_lira_offline_with_cloned_shadow_models(
    overfit: tuple[RandomForestClassifier, dict[str, Any]],
) -> None:
    rf, s = overfit
    r = membership_inference(
        SklearnTarget(rf), s["members"], s["nonmembers"], attack="lira",
        population=s["population"], trainer=sklearn_trainer(rf), shadow_models=4, bootstrap=50,
    )  # fmt: skip
    assert r.auc > 0.7
    assert r.shadow is not None and r.shadow.models == 4 and r.shadow.variance == "global"
    assert r.queries == 600 * 5


def test_the_shadow_budget_planner() -> None:
    many = plan_shadow_models(10.0, 0.5)
    assert many.models == 20 and many.variance == "per-example"
    few = plan_shadow_models(3.0, 0.5)
    assert few.models == 6 and few.variance == "global" and "global variance" in few.advice
    none = plan_shadow_models(0.4, 0.5)
    assert none.models == 0 and "loss-threshold" in none.advice
    assert plan_shadow_models(1000.0, 0.1, max_models=64).models == 64
    with pytest.raises(RobustnessError):
        plan_shadow_models(-1, 0.5)


class _DpLogistic:
    """A target over the privacy room's DP-SGD logistic regression."""

    kind = "dp-logistic"
    capabilities = frozenset({Capability.PROBABILITIES, Capability.LABELS})
    n_classes = 2

    def __init__(self, model: Any, d: int) -> None:
        self.model, self.input_shape = model, (d,)

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        p = 1 / (1 + np.exp(-self.model.decision(np.asarray(x, dtype=np.float64))))
        return np.stack([1 - p, p], axis=1).astype(np.float32)

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        return self.predict_proba(x).argmax(axis=1).astype(np.int64)


def test_dp_trained_model_is_close_to_chance_with_the_accountants_bound(digits: Digits) -> None:
    from bastion.privacy.dp import fit_dp_logistic

    s = _splits(digits)
    (xm, ym), (xn, yn) = s["members"], s["nonmembers"]
    bm, bn = (ym < 5).astype(np.int64), (yn < 5).astype(np.int64)
    model = fit_dp_logistic(
        xm.astype(np.float64), bm, epsilon=1.0, delta=1e-5, epochs=5, sample_rate=0.1, seed=0
    )
    dp = dp_guarantee(
        noise_multiplier=model.noise_multiplier, sample_rate=model.sample_rate,
        steps=model.steps, delta=model.delta,
    )  # fmt: skip
    assert dp is not None and dp.epsilon == pytest.approx(1.0, rel=0.01)
    assert "RDP converted" in dp.accountant
    target = _DpLogistic(model, 64)
    assert (target.predict_labels(xn) == bn).mean() > 0.6  # it learned something (chance 0.5)
    r = membership_inference(target, (xm, bm), (xn, bn), dp=dp, bootstrap=100)
    # epsilon 1 allows a membership advantage up to (e - 1) / (e + 1) = 0.46; measured
    # about 0.56 (the overfit forest above: above 0.75).
    assert abs(r.auc - 0.5) < 0.1
    assert r.empirical_epsilon <= dp.epsilon
    assert r.to_data()["dp"]["epsilon_upper_bound"] == dp.epsilon


def test_attribute_inference_recovers_a_memorised_sensitive_feature() -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.random((n, 6)).astype(np.float32)
    x[:, 0] = rng.integers(0, 2, n)  # the sensitive binary feature
    y = ((x[:, 1] + 0.5 * x[:, 0] + 0.3 * rng.standard_normal(n)) > 0.75).astype(np.int64)
    rf = RandomForestClassifier(n_estimators=50, random_state=0).fit(x[:300], y[:300])
    r = attribute_inference(SklearnTarget(rf), (x[:300], y[:300]), (x[300:], y[300:]), feature=0)
    assert r.values == (0.0, 1.0) and r.queries == 600 * 2
    assert r.accuracy_members > r.baseline + 0.1
    assert r.accuracy_members > r.accuracy_nonmembers + 0.05


def test_bad_input_is_refused(
    digits: Digits, overfit: tuple[RandomForestClassifier, dict[str, Any]]
) -> None:
    rf, s = overfit
    t = SklearnTarget(rf)
    labels = SklearnTarget(LinearSVC().fit(digits.x_train[:200], digits.y_train[:200]))
    with pytest.raises(RobustnessError, match="probabilities"):
        membership_inference(labels, s["members"], s["nonmembers"])
    with pytest.raises(RobustnessError, match="at least 10"):
        membership_inference(t, (s["members"][0][:5], s["members"][1][:5]), s["nonmembers"])
    with pytest.raises(RobustnessError, match="population"):
        membership_inference(t, s["members"], s["nonmembers"], attack="lira")
    with pytest.raises(RobustnessError, match="unknown membership attack"):
        membership_inference(t, s["members"], s["nonmembers"], attack="magic")
    with pytest.raises(RobustnessError, match="non-members"):
        membership_inference(t, s["members"], (np.zeros((20, 3)), np.zeros(20)))
    with pytest.raises(RobustnessError, match="noise multiplier"):
        dp_guarantee(noise_multiplier=1.0, delta=1e-5)


def _npz(path: Path, xy: tuple[NDArray[Any], NDArray[Any]]) -> Path:
    np.savez(path, x=xy[0], y=xy[1])
    return path


def test_redteam_membership_cli_records_evidence(
    overfit: tuple[RandomForestClassifier, dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rf, s = overfit
    model = tmp_path / "rf.pkl"
    model.write_bytes(pickle.dumps(rf))
    files = {k: str(_npz(tmp_path / f"{k}.npz", v)) for k, v in s.items()}
    run: Run = start(tmp_path, capsys)
    chart = tmp_path / "roc.svg"
    rc, out, err = run(
        "redteam", "membership", str(model), "--members", files["members"], "--nonmembers",
        files["nonmembers"], "--max-auc", "0.6", "--bootstrap", "50", "--chart", str(chart),
        "--format", "json",
    )  # fmt: skip
    assert rc == 1, err  # the overfit forest leaks
    doc = json.loads(out)
    assert doc["verdict"] == "fail" and doc["auc"] > 0.75 and chart.read_text().startswith("<?xml")
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    shown = json.loads(out)
    assert shown["check_id"] == "robustness.membership"
    assert shown["data"]["data_digests"]["members"].startswith("sha256:")
    assert any(f["rule_id"] == "robustness.membership.leak" for f in shown["findings"])

    rc, out, err = run(
        "redteam", "membership", str(model), "--members", files["members"], "--nonmembers",
        files["nonmembers"], "--population", files["population"], "--attack", "lira",
        "--shadow-budget", "30", "--bootstrap", "20", "--no-record",
    )  # fmt: skip
    assert rc == 1, err  # 300 non-members cannot resolve a 0.1% FPR: warn
    assert "shadow models" in out and "resolution" in out

    rc, _out, err = run(
        "redteam", "membership", str(model), "--members", files["members"], "--nonmembers",
        str(tmp_path / "missing.npz"),
    )  # fmt: skip
    assert rc == 2 and "no such data file" in err


def test_membership_check_verdicts(overfit: tuple[RandomForestClassifier, dict[str, Any]]) -> None:
    from bastion.robustness import membership_verdict

    rf, s = overfit
    r = membership_inference(SklearnTarget(rf), s["members"], s["nonmembers"], bootstrap=0)
    assert membership_verdict(r, 0.6)[0] is Verdict.FAIL
    assert membership_verdict(r, 0.99)[0] is Verdict.WARN  # 0.1% FPR not resolved
    assert MembershipCheck.id == "robustness.membership"
    assert "max_auc" in MembershipCheck.metadata()["remote_params"]


def test_model_inversion_reconstructs_the_digits_classes(digits: Digits) -> None:
    from bastion.robustness import TorchTarget, invert_classes

    r = invert_classes(
        TorchTarget(digits.model, (64,)), steps=200, reference=(digits.x_train, digits.y_train)
    )
    assert r.classes == tuple(range(10)) and r.reconstructions.shape == (10, 64)
    assert min(r.confidence) > 0.9
    acc = r.identification_accuracy
    assert acc is not None and acc >= 0.6  # chance: 0.1
    assert ((r.reconstructions >= 0) & (r.reconstructions <= 1)).all()
    assert r.grid_svg((8, 8)).startswith("<?xml")
    labels = SklearnTarget(LinearSVC().fit(digits.x_train[:200], digits.y_train[:200]))
    with pytest.raises(RobustnessError, match="gradients"):
        invert_classes(labels)


def test_the_metrics_agree_with_scikit_learn_and_the_epsilon_bound_is_sound() -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    from bastion.robustness._membership import _auc, _epsilon_lower_bound, _tpr_at

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 500)
    y, s = np.r_[np.ones(400), np.zeros(500)], np.r_[pos, neg]
    assert _auc(pos, neg) == pytest.approx(roc_auc_score(y, s))
    fpr, tpr, _ = roc_curve(y, s)
    for f in (0.01, 0.05, 0.2):
        assert _tpr_at(pos, neg, f) == pytest.approx(tpr[fpr <= f].max())
    # Separable scores: a large lower bound; identical distributions: none.
    assert _epsilon_lower_bound(pos + 100, neg, 1e-5, rng, 0.95) > 2.0
    same = [_epsilon_lower_bound(rng.normal(size=300), rng.normal(size=300), 1e-5, rng, 0.95)
            for _ in range(20)]  # fmt: skip
    assert max(same) < 0.8 and np.mean(same) < 0.2


def test_lira_uses_per_example_variances_with_many_shadow_models(
    overfit: tuple[RandomForestClassifier, dict[str, Any]],
) -> None:
    _rf, s = overfit
    small = RandomForestClassifier(n_estimators=5, random_state=0).fit(*s["members"])
    r = membership_inference(
        SklearnTarget(small), s["members"], s["nonmembers"], attack="lira",
        population=s["population"], trainer=sklearn_trainer(small), shadow_models=16,
        bootstrap=0,
    )  # fmt: skip
    assert r.shadow is not None and r.shadow.variance == "per-example"
    assert r.auc > 0.65
