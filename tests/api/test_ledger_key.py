"""`GET /api/v1/ledger/key` through the app: the public verifier key, for a viewer token
(issue 15, the ledger key)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.ledger import parse_verifier_key, verify_checkpoint
from bastion.core.workspace import Workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from tests.conftest import EXAMPLE_MANIFEST


def test_ledger_key_route_for_a_viewer(ws: Workspace) -> None:
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), actor="test")
    viewer = create_token(ws, name="witness", role=Role.VIEWER)
    h = {"Authorization": f"Bearer {viewer.token}"}
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        assert c.get("/api/v1/ledger/key").status_code == 401  # authenticated, like every route
        r = c.get("/api/v1/ledger/key", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        r = c.get("/api/v1/ledger/key", headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        doc = r.json()
        assert set(doc) == {
            "origin", "key_name", "key_hash", "algorithm", "vkey", "public_key_pem"
        }  # fmt: skip
        name, public = parse_verifier_key(doc["vkey"])
        assert name == doc["origin"] == doc["key_name"] == ws.settings.ledger_origin
        assert doc["vkey"].split("+", 2)[1] == doc["key_hash"]
        pem = load_pem_public_key(doc["public_key_pem"].encode())
        assert isinstance(pem, Ed25519PublicKey) and pem == public
        assert "PRIVATE" not in r.text
        # the checkpoint the API serves verifies with the key it serves
        note = c.get("/api/v1/ledger/checkpoint", headers=h).text
        assert verify_checkpoint(note, name, public).size == ws.ledger.size()
