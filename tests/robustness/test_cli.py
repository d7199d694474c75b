"""`bastion redteam evaluate` end to end through the CLI runner."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests._cli import Run, start


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_redteam_evaluate_records_evidence_and_writes_the_chart(
    run: Run, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    chart = tmp_path / "curve.svg"
    rc, out, err = run(
        "redteam", "evaluate", str(digits_files["onnx"]), "--data", str(digits_files["npz"]),
        "--attack", "pgd", "--eps", "0.05,0.1,0.2", "--steps", "10", "--samples", "100",
        "--chart", str(chart), "--format", "json",
    )  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "pass" and doc["valid"] and doc["evidence"]
    acc = [p["accuracy"] for p in doc["curve"]]
    assert acc == sorted(acc, reverse=True) and acc[-1] < doc["clean_accuracy"]
    assert chart.read_text().startswith("<?xml")
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    assert rc == 0 and json.loads(out)["check_id"] == "robustness.evaluation"


def test_redteam_evaluate_table_certify_and_threshold(
    run: Run, digits_files: dict[str, Path]
) -> None:
    rc, out, err = run(
        "redteam", "evaluate", str(digits_files["onnx"]), "--data", str(digits_files["csv"]),
        "--attack", "fgsm", "--eps", "0.3", "--samples", "40", "--min-accuracy", "0.9",
        "--certify-sigma", "0.25", "--certify-n", "200", "--no-record",
    )  # fmt: skip
    assert rc == 1, err  # FGSM at 0.3 leaves far less than 90% accuracy
    assert "FGSM (linf)" in out and "validity ok" in out and "certified accuracy" in out


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--eps", "5"], "outside the data's range"),
        (["--eps", "0.2,0.1"], "increasing"),
        (["--label", "nope"], "no label column"),
    ],
)
def test_redteam_evaluate_refuses_bad_input_before_recording(
    run: Run, digits_files: dict[str, Path], extra: list[str], match: str
) -> None:
    rc, _out, err = run(
        "redteam", "evaluate", str(digits_files["onnx"]), "--data", str(digits_files["csv"]), *extra
    )
    assert rc == 2 and match in err and "Traceback" not in err
    rc, out, _ = run("evidence", "list", "--format", "json")
    assert rc == 0 and not [e for e in json.loads(out) if e["check_id"] == "robustness.evaluation"]


def test_redteam_evaluate_refuses_label_only_and_shape_mismatch(
    run: Run, digits_files: dict[str, Path], digits: object, tmp_path: Path
) -> None:
    import numpy as np
    from sklearn.svm import LinearSVC

    d = digits
    svc = LinearSVC().fit(d.x_train[:300], d.y_train[:300])  # type: ignore[attr-defined]
    model = tmp_path / "svc.pkl"
    model.write_bytes(pickle.dumps(svc, protocol=4))
    rc, _out, err = run("redteam", "evaluate", str(model), "--data", str(digits_files["npz"]))
    assert rc == 2 and "scan says suspicious" in err  # LinearSVC is not on the allowlist
    allow = tmp_path / "allow.yaml"
    allow.write_text("globals: [sklearn.svm._classes.LinearSVC]\n")
    rc, _out, err = run(
        "redteam", "evaluate", str(model), "--data", str(digits_files["npz"]), "--allow", str(allow)
    )
    assert rc == 2 and "attack pgd needs gradients" in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((4, 10), np.float32), y=np.zeros(4))
    rc, _out, err = run("redteam", "evaluate", str(digits_files["onnx"]), "--data", str(wrong))
    assert rc == 2 and "do not match the model's input shape" in err


def test_redteam_evaluate_never_loads_a_dangerous_model(
    run: Run, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nX" + len(f"touch {marker}").to_bytes(4, "little")
                     + f"touch {marker}".encode() + b"\x85R.")  # fmt: skip
    rc, _out, err = run("redteam", "evaluate", str(evil), "--data", str(digits_files["npz"]))
    assert rc == 2 and "scan says dangerous" in err
    assert not marker.exists()


def test_redteam_evaluate_refuses_an_npz_whose_header_claims_a_huge_array(
    run: Run, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    import io
    import zipfile

    import numpy as np

    head = io.BytesIO()  # magic and header of a 4 TiB float32 array, and no data
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f4", "fortran_order": False, "shape": (1 << 20, 1 << 20)}
    )
    small = io.BytesIO()
    np.save(small, np.zeros(4))
    npz = tmp_path / "bomb.npz"
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("x.npy", head.getvalue())
        zf.writestr("y.npy", small.getvalue())
    rc, _out, err = run("redteam", "evaluate", str(digits_files["onnx"]), "--data", str(npz))
    assert rc == 2 and "larger than the data limit" in err


def test_redteam_compare_reports_defenses_and_records_evidence(
    run: Run, digits: Any, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    import numpy as np

    train = tmp_path / "train.npz"
    np.savez(train, x=digits.x_train, y=digits.y_train)
    chart = tmp_path / "defenses.svg"
    rc, out, err = run(
        "redteam", "compare", "--train", str(train), "--data", str(digits_files["npz"]),
        "--defenses", "adversarial_training,purification", "--image-shape", "8x8",
        "--eps", "0.1", "--epochs", "30", "--samples", "100", "--min-accuracy", "0.5",
        "--chart", str(chart), "--format", "json",
    )  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out)
    rows = {r["defense"]: r for r in doc["defenses"]}
    assert set(rows) == {"none", "adversarial_training", "purification"}
    assert (
        rows["adversarial_training"]["worst_case"]["eps_0_1"]
        > rows["none"]["worst_case"]["eps_0_1"] + 0.2
    )
    assert doc["recommendation"]["defense"] == "adversarial_training"
    assert chart.read_text().startswith("<?xml")
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    shown = json.loads(out)
    assert rc == 0 and shown["check_id"] == "robustness.defenses"
    assert shown["data"]["worst_case_by_defense"]["none"]["eps_0_1"] < 0.5

    rc, out, err = run(
        "redteam", "compare", "--train", str(train), "--data", str(digits_files["npz"]),
        "--defenses", "purification", "--eps", "0.1", "--epochs", "5", "--samples", "40",
        "--no-record",
    )  # fmt: skip
    assert rc == 0, err
    assert "adaptive_bpda" in out and "balanced" in out and "overstates" in out


def test_redteam_compare_refuses_bad_input(
    run: Run, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    rc, _out, err = run(
        "redteam", "compare", "--train", str(digits_files["npz"]), "--data",
        str(digits_files["npz"]), "--defenses", "magic",
    )  # fmt: skip
    assert rc == 2 and "unknown defense" in err
    rc, _out, err = run(
        "redteam", "compare", "--train", str(tmp_path / "missing.npz"), "--data",
        str(digits_files["npz"]),
    )  # fmt: skip
    assert rc == 2 and "no such data file" in err


def test_redteam_extract_steals_the_onnx_model(
    run: Run, digits: Any, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    import numpy as np

    pool = tmp_path / "pool.npz"
    np.savez(pool, x=digits.x_train, y=np.zeros(len(digits.x_train)))
    chart = tmp_path / "extraction.svg"
    rc, out, err = run(
        "redteam", "extract", str(digits_files["onnx"]), "--pool", str(pool), "--data",
        str(digits_files["npz"]), "--budgets", "30,600", "--max-fidelity", "0.85",
        "--chart", str(chart), "--format", "json",
    )  # fmt: skip
    assert rc == 1, err  # a 600-query surrogate agrees with the target on 85%+: stolen
    doc = json.loads(out)
    assert doc["answers"] == "probabilities" and doc["stolen"] is True
    assert doc["curve"][0]["fidelity"] < doc["curve"][1]["fidelity"]
    assert doc["model_digest"].startswith("sha256:") and chart.read_text().startswith("<?xml")
    rc, out, err = run(
        "redteam", "extract", str(digits_files["onnx"]), "--pool", str(pool), "--data",
        str(digits_files["npz"]), "--budgets", "50", "--answers", "labels", "--epochs", "20",
    )  # fmt: skip
    assert rc == 0, err
    assert "from labels" in out
    rc, _out, err = run(
        "redteam", "extract", str(digits_files["onnx"]), "--pool", str(digits_files["npz"]),
        "--data", str(digits_files["npz"]), "--budgets", "5000",
    )  # fmt: skip
    assert rc == 2 and "pool holds" in err


def test_redteam_poison_backdoor_and_label_flip(
    run: Run, digits: Any, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    import numpy as np

    train = tmp_path / "train.npz"
    np.savez(train, x=digits.x_train, y=digits.y_train)
    rc, out, err = run(
        "redteam", "poison", "--train", str(train), "--data", str(digits_files["npz"]),
        "--image-shape", "8x8", "--rate", "0.05", "--epochs", "30", "--format", "json",
    )  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["attack_success_rate"] > 0.8 and doc["clean_model_attack_success_rate"] < 0.2
    assert doc["poisoned"] == 70 and doc["accuracy_drop"] < 0.05
    ac = next(d for d in doc["detection"] if d["method"] == "activation_clustering")
    assert ac["recall"] > 0.8 and 0 in ac["flagged_classes"]
    rc, out, err = run(
        "redteam", "poison", "--train", str(train), "--data", str(digits_files["npz"]),
        "--attack", "label_flip", "--random-flips", "--rate", "0.3", "--epochs", "10",
        "--no-detect",
    )  # fmt: skip
    assert rc == 0, err
    assert "label_flip poisoning of 420" in out
    rc, _out, err = run(
        "redteam", "poison", "--train", str(train), "--data", str(digits_files["npz"]),
    )  # fmt: skip
    assert rc == 2 and "image-shape" in err


def test_redteam_compare_on_model_files_by_model_type(
    run: Run, digits: Any, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    doc = run.json(
        "redteam", "compare", "--model", str(digits_files["onnx"]), "--data",
        str(digits_files["npz"]), "--image-shape", "8x8", "--attacks", "pgd", "--samples", "60",
    )  # fmt: skip
    assert doc["model_type"].startswith("differentiable model file")
    rows = {r["defense"]: r for r in doc["defenses"]}
    assert set(rows) == {"none", "purification", "randomization"}
    assert "adaptive_bpda" in rows["purification"]["robust_accuracy"]
    assert "transfer" in rows["randomization"]["robust_accuracy"]
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    assert json.loads(out)["subject"]["digest"].startswith("sha256:")

    model = tmp_path / "lr.pkl"
    lr = LogisticRegression(max_iter=500).fit(digits.x_train, digits.y_train)
    model.write_bytes(pickle.dumps(lr))
    doc = run.json(
        "redteam", "compare", "--model", str(model), "--data", str(digits_files["npz"]),
        "--attacks", "square", "--queries", "50", "--samples", "40", "--no-record",
    )  # fmt: skip
    assert doc["model_type"].startswith("model file without gradients")
    purif = next(r for r in doc["defenses"] if r["defense"] == "purification")
    assert set(purif["robust_accuracy"]) == {"square"}  # no gradients: no BPDA, no transfer
    for extra, match in (
        (["--attacks", "pgd"], "none of pgd runs"),
        (["--defenses", "adversarial_training"], "needs a trainable PyTorch model"),
    ):
        rc, _out, err = run(
            "redteam", "compare", "--model", str(model), "--data", str(digits_files["npz"]),
            *extra,
        )  # fmt: skip
        assert rc == 2 and match in err, err
    rc, _out, err = run("redteam", "compare", "--data", str(digits_files["npz"]))
    assert rc == 2 and "--train" in err
