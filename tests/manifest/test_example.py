"""The bundled credit-scoring example validates and says what the demo relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.manifest import (
    AssetKind,
    AutonomyLevel,
    Classification,
    DecisionImpact,
    PiiCategory,
    Protocol,
    SystemManifest,
    load_manifest,
    validate_manifest,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring" / "system.yaml"


@pytest.fixture(scope="module")
def manifest() -> SystemManifest:
    return load_manifest(EXAMPLE)


def test_example_validates() -> None:
    assert validate_manifest(EXAMPLE) == []


def test_system_metadata(manifest: SystemManifest) -> None:
    system = manifest.system
    assert system.id == "credit-scoring"
    assert DecisionImpact.FINANCIAL in system.decision_impact
    assert system.autonomy_level is AutonomyLevel.HUMAN_IN_THE_LOOP
    assert system.data_sensitivity is Classification.RESTRICTED
    assert {"EU AI Act", "GDPR", "ECOA"} <= set(system.regulatory_scope)
    assert "EU" in system.jurisdictions


def test_applicant_store_holds_pii(manifest: SystemManifest) -> None:
    db = manifest.asset("applicant-db")
    assert db.kind is AssetKind.DATA_STORE
    assert db.classification is Classification.RESTRICTED
    expected = {"name", "contact", "government_id", "financial", "credit_history"}
    assert expected <= {c.value for c in db.pii_categories}
    assert db.has_pii
    assert not any(c.special_category for c in db.pii_categories)


def test_models(manifest: SystemManifest) -> None:
    gbm = manifest.asset("credit-gbm")
    assert gbm.kind is AssetKind.MODEL
    assert gbm.properties["framework"] == "scikit-learn"
    assert gbm.properties["format"] == "pickle"
    mlp = manifest.asset("credit-mlp")
    assert mlp.properties["framework"] == "pytorch"
    models = {a.id for a in manifest.assets if a.kind is AssetKind.MODEL}
    assert models == {"credit-gbm", "credit-mlp"}


def test_every_asset_kind_of_the_story_is_present(manifest: SystemManifest) -> None:
    kinds = {a.kind for a in manifest.assets}
    assert {
        AssetKind.DATA_STORE,
        AssetKind.EXTERNAL_SERVICE,
        AssetKind.FEATURE_STORE,
        AssetKind.TRAINING_PIPELINE,
        AssetKind.MODEL,
        AssetKind.INFERENCE_ENDPOINT,
        AssetKind.HUMAN_ACTOR,
        AssetKind.THIRD_PARTY_MODEL_API,
        AssetKind.VECTOR_STORE,
        AssetKind.AGENT,
    } <= kinds
    llm = manifest.asset("llm-api")
    assert llm.kind is AssetKind.THIRD_PARTY_MODEL_API
    assert "vendor" in llm.properties
    assert llm.hosting is not None
    assert llm.hosting.region


def test_nested_boundaries(manifest: SystemManifest) -> None:
    path = [b.id for b in manifest.boundary_path("training-pipeline")]
    assert path == ["bank-corporate", "ml-platform-vpc", "training-enclave"]
    vendor = manifest.boundary_of("llm-api")
    assert vendor is not None
    assert vendor.id == "llm-vendor"
    assert [b.id for b in manifest.boundary_path("llm-api")] == ["internet", "llm-vendor"]


def test_llm_prompt_leaves_the_bank(manifest: SystemManifest) -> None:
    crossing = {f.id for f in manifest.flows_crossing_boundaries()}
    assert {"llm-prompt", "bureau-reports", "model-publish"} <= crossing
    assert "score-gbm" not in crossing  # in-process, same boundary
    prompt = manifest.flow("llm-prompt")
    assert prompt.protocol is Protocol.HTTPS
    crossed = [b.id for b in manifest.boundaries_crossed(prompt)]
    assert crossed == ["ml-platform-vpc", "bank-corporate", "internet", "llm-vendor"]


def test_pii_enum_covers_gdpr_special_categories() -> None:
    assert PiiCategory.HEALTH.special_category
    assert PiiCategory.BIOMETRIC.special_category
    assert not PiiCategory.CREDIT_HISTORY.special_category
