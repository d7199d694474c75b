"""The data model's helpers and invariants, used by inventory and threats."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bastion.core.errors import NotFoundError
from bastion.manifest import (
    Asset,
    Authentication,
    Classification,
    SystemManifest,
    parse_manifest,
)
from tests.manifest.helpers import VALID


@pytest.fixture
def manifest() -> SystemManifest:
    return parse_manifest(VALID)


def test_lookups(manifest: SystemManifest) -> None:
    assert manifest.asset("db").name == "DB"
    assert manifest.flow("feed").source == "db"
    assert manifest.boundary("inner").name == "Inner"
    with pytest.raises(NotFoundError, match="no asset 'ghost'"):
        manifest.asset("ghost")
    with pytest.raises(NotFoundError):
        manifest.flow("ghost")
    with pytest.raises(NotFoundError):
        manifest.boundary("ghost")


def test_boundaries(manifest: SystemManifest) -> None:
    outer = manifest.parent_of("inner")
    assert outer is not None
    assert outer.id == "outer"
    assert manifest.parent_of("outer") is None
    assert [b.id for b in manifest.boundary_path("model")] == ["outer", "inner"]
    inner = manifest.boundary_of("model")
    assert inner is not None
    assert inner.id == "inner"
    assert [f.id for f in manifest.flows_crossing_boundaries()] == ["feed"]
    assert [b.id for b in manifest.boundaries_crossed(manifest.flow("feed"))] == ["inner"]
    assert manifest.flows_from("db") == manifest.flows_to("model") == [manifest.flow("feed")]


def test_asset_outside_every_boundary() -> None:
    text = VALID.replace("    assets: [db]\n", "")
    manifest = parse_manifest(text)
    assert manifest.boundary_of("db") is None
    assert manifest.boundary_path("db") == []


def test_defaults_fail_closed(manifest: SystemManifest) -> None:
    db = manifest.asset("db")
    assert db.authentication is Authentication.NONE
    assert not db.encryption.at_rest
    assert not db.encryption.in_transit
    assert db.pii_categories == []
    assert not db.has_pii


def test_models_are_frozen(manifest: SystemManifest) -> None:
    with pytest.raises(ValidationError):
        manifest.assets[0].name = "changed"  # type: ignore[misc]


def test_python_construction_by_field_name() -> None:
    asset = Asset(id="a", kind="model", name="A", owner="o", classification="public")  # type: ignore[arg-type]
    assert asset.classification is Classification.PUBLIC
    with pytest.raises(ValidationError):
        Asset(id="a", kind="model", name="A", owner="o", classification="public", colour="x")  # type: ignore[arg-type, call-arg]


def test_classification_order() -> None:
    assert Classification.RESTRICTED.at_least(Classification.CONFIDENTIAL)
    assert not Classification.PUBLIC.at_least(Classification.INTERNAL)
    assert str(Classification.INTERNAL) == "internal"


def test_round_trip_through_dump(manifest: SystemManifest) -> None:
    data = manifest.model_dump(mode="json", by_alias=True)
    assert data["apiVersion"] == "bastion/v1"
    assert SystemManifest.model_validate(data) == manifest
