"""Fixtures: the crafted malicious corpus and the benign set, written under tmp dirs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_MANIFEST
from tests.integrity.scanning.corpus import benign_corpus, malicious_corpus


@pytest.fixture(scope="session")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marker") / "PWNED"


@pytest.fixture(scope="session")
def evil(marker: Path) -> dict[str, bytes]:
    return malicious_corpus(marker)


@pytest.fixture(scope="session")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The credit-scoring example's real scikit-learn pickle, built small."""
    sys.path.insert(0, str(EXAMPLE_MANIFEST.parent))
    try:
        import train  # examples/credit-scoring/train.py

        out = tmp_path_factory.mktemp("cs")
        train.build(out, n_applicants=300, seed=7)
    finally:
        sys.path.remove(str(EXAMPLE_MANIFEST.parent))
    return out / "models"


@pytest.fixture(scope="session")
def benign(sklearn_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return benign_corpus(
        tmp_path_factory.mktemp("benign"), sklearn_model / "credit-gbm" / "model.pkl"
    )
