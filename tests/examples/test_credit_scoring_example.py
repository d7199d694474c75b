"""The credit-scoring example must build offline, deterministically, with sane models."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring" / "train.py"
ROWS = 600
IDENTIFIERS = {"applicant_id", "name", "email", "national_id", "date_of_birth"}


def _load_script() -> ModuleType:
    """Import train.py from its path; it lives outside any package."""
    name = "bastion_example_credit_scoring_train"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def builds(
    train: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    first = train.build(tmp_path_factory.mktemp("build-a"), n_applicants=ROWS, seed=7)
    second = train.build(tmp_path_factory.mktemp("build-b"), n_applicants=ROWS, seed=7)
    return first, second


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _predictions(train: ModuleType, out_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    x, _, _ = train.load_features(out_dir / "features.csv")
    gbm = train.load_gbm(out_dir / "models" / "credit-gbm")
    mlp, means, stds = train.load_mlp(out_dir / "models" / "credit-mlp")
    return gbm.predict_proba(x)[:, 1], train.predict_mlp(mlp, x, means, stds)


def test_files_exist(builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, _ = builds
    out = Path(summary["out_dir"])
    expected = {
        "applicants.csv",
        "features.csv",
        "models/credit-gbm/model.pkl",
        "models/credit-gbm/metadata.json",
        "models/credit-mlp/model.pt",
        "models/credit-mlp/metadata.json",
    }
    assert set(summary["files"]) == expected
    for rel in expected:
        assert (out / rel).is_file(), rel
    assert summary["rows"]["applicants"] == ROWS
    assert summary["rows"]["features"] == ROWS
    assert summary["rows"]["train"] + summary["rows"]["test"] == ROWS


def test_deterministic(train: ModuleType, builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, second = builds
    a, b = Path(first["out_dir"]), Path(second["out_dir"])
    for rel in (
        "applicants.csv",
        "features.csv",
        "models/credit-gbm/metadata.json",
        "models/credit-mlp/metadata.json",
    ):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert first["metrics"] == second["metrics"]
    gbm_a, mlp_a = _predictions(train, a)
    gbm_b, mlp_b = _predictions(train, b)
    np.testing.assert_array_equal(gbm_a, gbm_b)
    np.testing.assert_array_equal(mlp_a, mlp_b)


def test_metrics_sane(builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, _ = builds
    for name in ("credit-gbm", "credit-mlp"):
        assert summary["metrics"][name]["auc"] > 0.65, name
        assert 0.5 < summary["metrics"][name]["accuracy"] <= 1.0, name


def test_metadata_records_provenance(
    train: ModuleType, builds: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    summary, _ = builds
    out = Path(summary["out_dir"])
    for name, framework in (("credit-gbm", "scikit-learn"), ("credit-mlp", "pytorch")):
        meta = json.loads((out / "models" / name / "metadata.json").read_text(encoding="utf-8"))
        assert meta["framework"] == framework
        assert meta["framework_version"]
        assert meta["metrics"] == summary["metrics"][name]
        assert meta["training_data"]["sha256"] == summary["files"]["features.csv"]
        assert meta["features"] == list(train.FEATURES)
        artifact = f"models/{name}/{meta['artifact']['path']}"
        assert meta["artifact"]["sha256"] == summary["files"][artifact]
    assert (out / "models" / "credit-gbm" / "model.pkl").read_bytes()[:2] == b"\x80\x04"


def test_features_are_deidentified(builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, _ = builds
    out = Path(summary["out_dir"])
    applicant_cols = set(_header(out / "applicants.csv"))
    feature_cols = set(_header(out / "features.csv"))
    assert applicant_cols >= IDENTIFIERS
    assert not feature_cols & (IDENTIFIERS | {"city", "zip_code"})
    assert "default" in feature_cols


def test_national_ids_are_clearly_synthetic(
    builds: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    summary, _ = builds
    with (Path(summary["out_dir"]) / "applicants.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["national_id"].startswith("SYN-") for r in rows)
    assert all(r["email"].endswith("@example.com") for r in rows)


def test_main_prints_summary(
    train: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main(["--out", str(tmp_path / "cli"), "--rows", "300", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "credit-gbm: AUC" in out
    assert "credit-mlp: AUC" in out
    assert (tmp_path / "cli" / "models" / "credit-mlp" / "model.pt").is_file()
