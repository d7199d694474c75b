"""Fixtures for the signing tests: keys, a synthetic model, the example's trained models."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[3]
MODEL_SIGNING = ROOT / ".venv" / "bin" / "model_signing"


def write_key(
    dir_: Path, name: str = "signer", curve: ec.EllipticCurve | None = None
) -> tuple[Path, Path]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    priv = dir_ / f"{name}.key"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(priv, 0o600)
    pub = dir_ / f"{name}.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "keys"
    d.mkdir()
    return write_key(d)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "models" / "tiny"
    (m / "sub").mkdir(parents=True)
    (m / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (m / "config.json").write_text('{"layers": 2}')
    (m / "sub" / "vocab.txt").write_text("a\nb\n")
    (m / "a-c").write_text("sorts before a.bin as a string, after as path parts")
    (m / ".git").mkdir()
    (m / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return m


@pytest.fixture(scope="session")
def example_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The credit-scoring example's models, trained small (built once per session)."""
    spec = importlib.util.spec_from_file_location(
        "cs_train", ROOT / "examples" / "credit-scoring" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("credit")
    mod.build(out, n_applicants=400, seed=3)
    return out / "models"


@pytest.fixture
def gbm(example_models: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "credit-gbm"
    shutil.copytree(example_models / "credit-gbm", dst)
    return dst
