"""Inventory: import, versioned re-import, filters, ledgered changes, the hygiene check."""

from __future__ import annotations

import pytest
import yaml

from bastion._plugins import load_checks
from bastion.core.checks import run_check
from bastion.core.errors import InputError, NotFoundError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import get_asset, get_system, import_manifest, list_assets, list_systems
from bastion.manifest import load_manifest, parse_manifest
from tests.conftest import EXAMPLE_MANIFEST


def _doc() -> dict:
    return yaml.safe_load(EXAMPLE_MANIFEST.read_text())


def _parse(doc: dict):
    return parse_manifest(yaml.safe_dump(doc, sort_keys=False), filename="edited.yaml")


def test_import_stores_system_and_assets(ws: Workspace) -> None:
    m = load_manifest(EXAMPLE_MANIFEST)
    res = import_manifest(ws, m, source="system.yaml", actor="tester")
    assert res.created and res.version == 1
    assert set(res.added) == {a.id for a in m.assets}
    systems = list_systems(ws)
    assert [s.id for s in systems] == [m.system.id]
    assets = list_assets(ws)
    assert len(assets) == len(m.assets)
    models = list_assets(ws, kind="model")
    assert {a.asset_id for a in models} == {a.id for a in m.assets if a.kind.value == "model"}
    assert models and all(a.kind == "model" for a in models)
    restricted = list_assets(ws, classification="restricted")
    assert all(a.classification == "restricted" for a in restricted)
    owner = m.assets[0].owner
    assert all(a.owner == owner for a in list_assets(ws, owner=owner))
    ev = ws.ledger.entries(kind="inventory.imported")
    assert ev and ev[-1].data["system"] == m.system.id and ev[-1].actor == "tester"


def test_reimport_unchanged_is_a_no_op(ws: Workspace) -> None:
    m = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, m)
    size = ws.ledger.size()
    res = import_manifest(ws, m)
    assert res.no_change and res.version == 1
    assert ws.ledger.size() == size


def test_reimport_versions_what_changed(ws: Workspace) -> None:
    m1 = load_manifest(EXAMPLE_MANIFEST)
    import_manifest(ws, m1)
    doc = _doc()
    changed_id = doc["assets"][0]["id"]
    doc["assets"][0]["owner"] = "new-owner@bank.example"
    res = import_manifest(ws, _parse(doc))
    assert res.version == 2 and res.changed == (changed_id,)
    assert not res.added and not res.removed
    asset = get_asset(ws, f"{m1.system.id}/{changed_id}")
    assert asset.owner == "new-owner@bank.example"
    assert [v.version for v in asset.history] == [1, 2]
    assert [v.change for v in asset.history] == ["added", "changed"]
    assert asset.history[0].body["owner"] == m1.assets[0].owner
    ev = ws.ledger.entries(kind="inventory.imported")[-1]
    assert ev.data["changed"] == [changed_id] and ev.data["version"] == 2
    assert get_system(ws, m1.system.id).version == 2


def test_removed_asset_is_marked_and_versioned(ws: Workspace) -> None:
    doc = _doc()
    doc["assets"].append(
        {
            "id": "scratch-bucket",
            "kind": "data_store",
            "name": "Scratch",
            "owner": "ml@bank.example",
            "classification": "internal",
        }
    )
    import_manifest(ws, _parse(doc))
    doc["assets"].pop()
    res = import_manifest(ws, _parse(doc))
    assert res.removed == ("scratch-bucket",)
    rec = get_asset(ws, "scratch-bucket")
    assert rec.removed and rec.history[-1].change == "removed"
    assert "scratch-bucket" not in {a.asset_id for a in list_assets(ws)}
    assert "scratch-bucket" in {a.asset_id for a in list_assets(ws, include_removed=True)}


def test_unknown_refs(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        get_system(ws, "nope")
    with pytest.raises(NotFoundError):
        get_asset(ws, "nope/nothing")
    with pytest.raises(InputError):
        get_asset(ws, "sys/")


def test_hygiene_check_flags_unencrypted_pii_and_plaintext_crossings(ws: Workspace) -> None:
    load_checks()
    m = load_manifest(EXAMPLE_MANIFEST)
    res = import_manifest(ws, m)
    ok = run_check(ws, "inventory.hygiene", Subject("system", m.system.id, res.digest))
    assert ok.verdict is Verdict.PASS, ok.findings
    doc = _doc()
    pii_asset = next(
        a for a in doc["assets"] if a.get("pii_categories") and a["kind"] != "human_actor"
    )
    pii_asset["encryption"] = {"at_rest": False, "in_transit": True}
    crossing = m.flows_crossing_boundaries()[0]
    flow = next(f for f in doc["flows"] if f["id"] == crossing.id)
    flow["encryption"] = {"in_transit": False}
    flow["authentication"] = "none"
    res2 = import_manifest(ws, _parse(doc))
    ev = run_check(ws, "inventory.hygiene", Subject("system", m.system.id, res2.digest))
    assert ev.verdict is Verdict.FAIL
    rules = {(f.rule_id, f.location) for f in ev.findings}
    assert ("inventory.unencrypted-sensitive-asset", f"assets/{pii_asset['id']}") in rules
    assert ("inventory.plaintext-boundary-flow", f"flows/{crossing.id}") in rules
    assert ("inventory.unauthenticated-boundary-flow", f"flows/{crossing.id}") in rules
    # Evidence about an older digest is refused, not silently applied to the new version.
    stale = run_check(ws, "inventory.hygiene", Subject("system", m.system.id, res.digest))
    assert stale.verdict is Verdict.ERROR and "not" in stale.data["error"]
