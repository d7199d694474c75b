"""Feature-squeezing detection (issue 10 section 4): PGD examples on the digits MLP score
higher than benign digits, and the threshold calibrated on held-out benign digits keeps
the false positive rate on other benign digits near the target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bastion.robustness import (
    AttackSpec,
    Binning,
    BitDepth,
    FeatureSqueezingDetector,
    MedianSmoothing,
    RobustnessError,
    Rounding,
    SklearnTarget,
    TorchTarget,
    default_squeezers,
    run_attack,
)
from tests.robustness.conftest import Digits


def _detector(digits: Digits) -> FeatureSqueezingDetector:
    return FeatureSqueezingDetector(TorchTarget(digits.model, (64,)), image_shape=(8, 8))


def test_pgd_examples_score_higher_than_benign_and_fpr_is_near_target(digits: Digits) -> None:
    det = _detector(digits)
    cal = det.fit(digits.x_test[:200], fpr=0.05)
    assert cal.samples == 200 and cal.squeezers == ("bit_depth_3",)
    assert cal.calibration_fpr <= 0.05
    held = digits.x_test[200:]
    o = run_attack(det.target, held, digits.y_test[200:], 0.1, AttackSpec("pgd", steps=20))
    adv = o.x_adv[o.fooled]
    assert len(adv) > 100
    benign, attacked = det.score(held), det.score(adv)
    auc = roc_auc_score(
        np.r_[np.zeros(len(benign)), np.ones(len(attacked))], np.r_[benign, attacked]
    )
    assert auc > 0.9
    fpr = float(det.is_adversarial(held).mean())
    assert fpr <= 0.05 + 0.05  # 197 held-out digits: the binomial spread at 5% is ~1.6 points
    assert float(det.is_adversarial(adv).mean()) > 0.7


def test_one_input_is_scored_alone_and_as_in_a_batch(digits: Digits) -> None:
    det = _detector(digits)
    batch = det.score(digits.x_test[:5])
    one = det.score(digits.x_test[3])
    assert one.shape == (1,)
    assert one[0] == pytest.approx(batch[3], abs=1e-6)
    assert det.score(digits.x_test[:5].reshape(5, 8, 8).reshape(5, 64)).shape == (5,)
    assert ((batch >= 0) & (batch <= 2)).all()


def test_a_stored_threshold_is_used_without_fitting(digits: Digits) -> None:
    fitted = _detector(digits)
    cal = fitted.fit(digits.x_test[:200], fpr=0.1)
    again = FeatureSqueezingDetector(
        TorchTarget(digits.model, (64,)), image_shape=(8, 8), threshold=cal.threshold
    )
    x = digits.x_test[200:260]
    assert (again.is_adversarial(x) == fitted.is_adversarial(x)).all()
    assert cal.to_dict()["threshold"] == cal.threshold


def test_squeezers_do_what_they_say() -> None:
    x = np.array([[0.0, 0.2, 0.49, 0.51, 1.0]], dtype=np.float32)
    assert BitDepth(1)(x).tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]
    assert np.allclose(Rounding(0.25)(x), [[0.0, 0.25, 0.5, 0.5, 1.0]])
    kept = Rounding([0.5, 0, 0, 0, 0])(x)
    assert np.allclose(kept[0, 1:], x[0, 1:]) and kept[0, 0] == 0.0
    img = np.zeros((1, 16), dtype=np.float32)
    img[0, 5] = 1.0  # one bright pixel in a 4x4 image is removed by a 2x2 median
    assert MedianSmoothing(2, (4, 4))(img).max() == 0.0
    ref = np.linspace(0, 1, 101, dtype=np.float32)[:, None]
    b = Binning(ref, bins=4)(np.array([[0.1], [0.9]], dtype=np.float32))
    assert np.allclose(b, [[0.125], [0.875]])
    assert [s.name for s in default_squeezers((64,))] == ["round_0.125"]
    assert [s.name for s in default_squeezers((1, 28, 28))] == ["bit_depth_3", "median_2x2"]


def test_tabular_detector_on_a_scikit_learn_target(digits: Digits) -> None:
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression(max_iter=300).fit(digits.x_train, digits.y_train)
    det = FeatureSqueezingDetector(SklearnTarget(est), [Binning(digits.x_train, bins=8)])
    cal = det.fit(digits.x_test[:100], fpr=0.1)
    assert cal.squeezers == ("bins_8",)
    assert det.is_adversarial(digits.x_test[100:120]).shape == (20,)


def test_bad_input_is_refused(digits: Digits) -> None:
    det = _detector(digits)
    with pytest.raises(RobustnessError, match="call fit"):
        det.is_adversarial(digits.x_test[:2])
    with pytest.raises(RobustnessError, match="input shape"):
        det.score(np.zeros((2, 63), dtype=np.float32))
    with pytest.raises(RobustnessError, match="finite"):
        det.score(np.full((1, 64), np.nan))
    with pytest.raises(RobustnessError, match="at least 20"):
        det.fit(digits.x_test[:10], fpr=0.05)
    with pytest.raises(RobustnessError, match="fpr"):
        det.fit(digits.x_test[:100], fpr=0.7)
    with pytest.raises(RobustnessError, match="bits"):
        BitDepth(0)
    with pytest.raises(RobustnessError, match="not images"):
        MedianSmoothing(2)(np.zeros((1, 64), dtype=np.float32))
    from sklearn.svm import LinearSVC

    labels_only = SklearnTarget(LinearSVC().fit(digits.x_train[:200], digits.y_train[:200]))
    with pytest.raises(RobustnessError, match="probabilities"):
        FeatureSqueezingDetector(labels_only)


def test_the_detector_round_trips_through_its_json_config(digits: Digits) -> None:
    import json

    det = FeatureSqueezingDetector(
        TorchTarget(digits.model, (64,)),
        [BitDepth(3), MedianSmoothing(2, (8, 8)), Rounding(0.25), Binning(digits.x_train, 8)],
    )
    det.fit(digits.x_test[:100], fpr=0.1)
    cfg = json.loads(json.dumps(det.config()))
    again = FeatureSqueezingDetector.from_config(TorchTarget(digits.model, (64,)), cfg)
    x = digits.x_test[100:150]
    assert again.threshold == det.threshold
    assert np.allclose(again.score(x), det.score(x))
    assert (again.is_adversarial(x) == det.is_adversarial(x)).all()
    for bad in ({"squeezers": [{"kind": "magic"}]}, {"squeezers": [{"kind": "bit_depth"}]}, {}):
        with pytest.raises(RobustnessError):
            FeatureSqueezingDetector.from_config(det.target, bad)


def test_evaluate_detector_reports_fpr_auc_and_detection_rate(digits: Digits) -> None:
    from bastion.robustness import evaluate_detector

    det = _detector(digits)
    r = evaluate_detector(
        det, digits.x_test[:200], digits.x_test[200:], digits.y_test[200:], eps=(0.05, 0.1)
    )
    assert r.calibration.samples == 200 and r.samples == 197
    assert r.benign_fpr <= 0.1
    assert set(r.detection) == {"eps_0_05", "eps_0_1"}
    assert r.detection["eps_0_1"]["auc"] > 0.9 and r.detection["eps_0_1"]["tpr"] > 0.7
    assert r.microseconds_per_input > 0
    assert r.to_data()["detector"]["threshold"] == r.calibration.threshold


def test_redteam_detect_cli_saves_the_detector_and_records_evidence(
    digits_files: dict[str, Any], digits: Digits, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests._cli import start

    calib = tmp_path / "calib.npz"
    np.savez(calib, x=digits.x_test[200:], y=digits.y_test[200:])
    saved = tmp_path / "detector.json"
    run = start(tmp_path, capsys)
    rc, out, err = run(
        "redteam", "detect", str(digits_files["onnx"]), "--calibrate", str(calib), "--data",
        str(digits_files["npz"]), "--image-shape", "8x8", "--eps", "0.1", "--min-tpr", "0.6",
        "--save", str(saved), "--format", "json",
    )  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "pass" and doc["tpr_at"]["eps_0_1"] > 0.6
    cfg = json.loads(saved.read_text())
    from bastion.robustness import load_target

    again = FeatureSqueezingDetector.from_config(load_target(digits_files["onnx"]).target, cfg)
    assert again.threshold == doc["calibration"]["threshold"]
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    assert json.loads(out)["check_id"] == "robustness.detector"
    rc, out, err = run(
        "redteam", "detect", str(digits_files["onnx"]), "--calibrate", str(calib), "--data",
        str(digits_files["npz"]), "--bits", "1", "--eps", "0.1", "--min-tpr", "0.99",
        "--no-record",
    )  # fmt: skip
    assert rc == 1, err
    assert "bit_depth_1" in out
    rc, _out, err = run(
        "redteam", "detect", str(digits_files["onnx"]), "--calibrate", str(calib), "--data",
        str(digits_files["npz"]), "--fpr", "0.9",
    )  # fmt: skip
    assert rc == 2 and "fpr" in err
