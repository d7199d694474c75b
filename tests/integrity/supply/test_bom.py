"""The AI-BOM: CycloneDX 1.6, schema-valid, with hashes, model card, data, environment, services."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from bastion.core.errors import InputError
from bastion.integrity import build_ai_bom, installed_packages
from bastion.manifest import load_manifest
from tests.conftest import EXAMPLE_MANIFEST


def _valid(text: str) -> dict[str, Any]:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc: dict[str, Any] = json.loads(text)
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    return doc


def test_bom_of_the_example_model(example_models: Path) -> None:
    model_dir = example_models / "credit-gbm"
    manifest = load_manifest(EXAMPLE_MANIFEST).model_dump(mode="json", by_alias=True)
    bom = build_ai_bom(
        model_dir,
        environment=installed_packages(),
        system=manifest,
        system_info={"id": "credit-scoring", "version": 1, "digest": "sha256:abc"},
    )
    doc = _valid(bom.document)
    model = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == "credit-gbm"
    hashes = {c["name"]: c["hashes"][0]["content"] for c in model["components"]}
    for name in ("model.pkl", "metadata.json"):
        assert hashes[name] == hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    meta = json.loads((model_dir / "metadata.json").read_text())
    card = model["modelCard"]
    assert card["modelParameters"]["modelArchitecture"] == meta["model_class"]
    metrics = {m["type"]: m["value"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics["auc"] == str(meta["metrics"]["auc"])
    [ref] = card["modelParameters"]["datasets"]
    [data] = [c for c in doc["components"] if c["bom-ref"] == ref["ref"]]
    assert data["type"] == "data" and data["data"][0]["type"] == "dataset"
    assert data["hashes"][0]["content"] == meta["training_data"]["sha256"]
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    sklearn = next(c["bom-ref"] for c in doc["components"] if c["name"] == "scikit-learn")
    assert {ref["ref"], sklearn} <= deps[model["bom-ref"]]
    assert any(r.startswith("pkg:pypi/numpy@") for r in deps[sklearn])
    services = {s["bom-ref"]: s for s in doc["services"]}
    assert set(services) == {
        "service:credit-scoring/credit-bureau",
        "service:credit-scoring/scoring-api",
        "service:credit-scoring/llm-api",
    }
    assert services["service:credit-scoring/scoring-api"]["endpoints"] == ["/v1/score"]
    assert services["service:credit-scoring/llm-api"]["x-trust-boundary"] is True
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props["bastion:system-id"] == "credit-scoring"
    assert bom.summary()["services"] == 3 and bom.files == 2


def test_bom_is_deterministic_but_for_its_timestamp(example_models: Path) -> None:
    a = json.loads(build_ai_bom(example_models / "credit-mlp").document)
    b = json.loads(build_ai_bom(example_models / "credit-mlp").document)
    a["metadata"].pop("timestamp")
    b["metadata"].pop("timestamp")
    assert a == b and a["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] == {
        "type": "supervised"
    }


def test_model_dir_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "m" / ".git").mkdir()
    (tmp_path / "m" / ".git" / "HEAD").write_text("ref")
    doc = _valid(build_ai_bom(tmp_path / "m").document)
    assert [c["name"] for c in doc["metadata"]["component"]["components"]] == ["weights.bin"]
    assert "modelCard" not in doc["metadata"]["component"]


def test_symlinks_and_bad_metadata_are_refused(tmp_path: Path) -> None:
    m = tmp_path / "m"
    m.mkdir()
    (m / "w.bin").write_bytes(b"1")
    (m / "link.bin").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match=r"'link\.bin' is a symbolic link"):
        build_ai_bom(m)
    (m / "link.bin").unlink()
    (m / "metadata.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(InputError, match=r"metadata\.json: not valid JSON"):
        build_ai_bom(m)
    (m / "metadata.json").write_text('{"training_data": {"sha256": "xyz"}}', encoding="utf-8")
    with pytest.raises(InputError, match="64 hex digits"):
        build_ai_bom(m)
    with pytest.raises(InputError, match="not a directory"):
        build_ai_bom(m / "w.bin")


def test_bom_manifest_digest_is_the_signature_digest_with_a_tokenizer_folder(
    tmp_path: Path,
) -> None:
    """``tokenizer.json`` next to ``tokenizer/``: plain string order puts the file first
    ("." < "/"), model-signing's path-part order puts the folder first. The BOM must name
    the digest the signature and the registry version name."""
    from bastion.integrity import signed_manifest
    from bastion.integrity.supply._bom import hash_model_dir, manifest_digest
    from bastion.registry import hash_model_dir as registry_digest

    m = tmp_path / "m"
    (m / "tokenizer").mkdir(parents=True)
    (m / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (m / "tokenizer.json").write_text("{}")
    (m / "tokenizer-extra.json").write_text("[]")
    (m / "model.safetensors").write_bytes(b"\x00" * 8)
    files = hash_model_dir(m)
    signed = signed_manifest(m).digest
    assert manifest_digest(files) == signed
    assert manifest_digest(list(reversed(files))) == signed
    assert registry_digest(m).digest == f"sha256:{signed}"
    bom = build_ai_bom(m)
    assert bom.manifest_sha256 == signed
    doc = _valid(bom.document)
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    assert props["bastion:manifest-sha256"] == signed
