"""Resources come from the inventory: the example manifest's assets, with their attributes."""

from __future__ import annotations

from pathlib import Path

from bastion.access.interface import (
    Action,
    AuthMethod,
    Identity,
    IdentityKind,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy import engine_for, resources_from_inventory
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from tests.conftest import EXAMPLE_MANIFEST


def test_inventory_assets_become_resources(sqlite_ws: Workspace, tmp_path: Path) -> None:
    import_manifest(sqlite_ws, load_manifest(EXAMPLE_MANIFEST), actor="test")
    refs = {(r.kind, r.id): r for r in resources_from_inventory(sqlite_ws)}
    scoring = refs[(ResourceKind.ENDPOINT, "scoring-api")]
    assert scoring.attributes["classification"] == "confidential"
    assert scoring.attributes["asset_kind"] == "inference_endpoint"
    assert scoring.attributes["owner"] == "ml-platform@bank.example"
    assert refs[(ResourceKind.ENDPOINT, "llm-api")].attributes["asset_kind"] == (
        "third_party_model_api"
    )
    assert refs[(ResourceKind.MODEL_VERSION, "credit-gbm")].attributes["system"] == "credit-scoring"
    applicants = refs[(ResourceKind.DATASET, "applicant-db")]
    assert applicants.attributes["classification"] == "restricted"
    assert applicants.attributes["has_pii"] is True
    assert (ResourceKind.ENDPOINT, "loan-officer") not in refs  # a human actor is no resource

    # A policy directory without entities.yaml: the attributes are the inventory's.
    d = tmp_path / "pol"
    d.mkdir()
    (d / "p.cedar").write_text(
        '@id("confidential-or-less")\n'
        'permit (principal is User, action == Action::"export", resource is Dataset)\n'
        'when { principal.roles.contains("analyst") && resource.classification_rank <= 2 };\n'
    )
    engine = engine_for(sqlite_ws, d)
    analyst = Identity(
        "user:ana", IdentityKind.USER, AuthMethod.BEARER, roles=frozenset({"analyst"})
    )
    snapshot = ResourceRef(ResourceKind.DATASET, "training-snapshot")
    db = ResourceRef(ResourceKind.DATASET, "applicant-db")
    assert engine.decide(analyst, Action.EXPORT, snapshot).allowed
    assert not engine.decide(analyst, Action.EXPORT, db).allowed
    assert engine_for(sqlite_ws, d) is engine  # one engine per workspace and directory
    loaded = [e for e in sqlite_ws.ledger.entries() if e.kind == "access.policy_loaded"]
    assert loaded[-1].data["policies"] == ["confidential-or-less"]
