"""Fixtures of the supply tests: the bundled OSV records and a trained example model."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bastion.integrity import bundled_osv_database
from tests.conftest import ROOT

OSV_DIR = bundled_osv_database()


def osv_record(record_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((OSV_DIR / f"{record_id}.json").read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def osv_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled database."""
    dst = tmp_path / "osv"
    shutil.copytree(OSV_DIR, dst)
    return dst


@pytest.fixture(scope="session")
def example_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The credit-scoring example's models, built once by its own train.py (small and fast)."""
    spec = importlib.util.spec_from_file_location(
        "credit_train", ROOT / "examples" / "credit-scoring" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("credit")
    mod.build(out, 200, 7)
    return out / "models"
