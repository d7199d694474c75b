"""The robustness API routes: the latest evidence per model, one evidence's charts, and
campaign validation; each declares its permission and refuses without a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from tests.robustness._recorded import MODEL, record_samples
from tests.robustness.conftest import Digits

CAMPAIGN = b"""
kind: RedTeamCampaign
name: q4
targets:
  - id: mlp
    model: digits.onnx
    data: digits.npz
  - id: served
    endpoint: http://127.0.0.1:8080/predict
    template: endpoint.yaml
    data: digits.npz
attacks:
  - id: sq
    attack: square
    eps: [0.1]
thresholds:
  - metric: sq.robust_accuracy
    min: 0.2
"""


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws)) as c:
        yield c


def _auth(ws: Workspace, role: Role) -> dict[str, str]:
    tok = create_token(ws, name=f"t-{role.value}", role=role)
    return {"Authorization": f"Bearer {tok.token}"}


def test_latest_evidence_and_charts(
    client: TestClient, sqlite_ws: Workspace, digits: Digits
) -> None:
    rec = record_samples(sqlite_ws, digits)
    assert client.get("/api/v1/robustness/evidence").status_code == 401
    viewer = _auth(sqlite_ws, Role.VIEWER)
    r = client.get("/api/v1/robustness/evidence", headers=viewer)
    assert r.status_code == 200, r.text
    (row,) = r.json()["models"]
    assert row["model"] == MODEL
    ev = row["evaluation"]
    assert ev["id"] == rec.evaluation.id and ev["attack"] == "pgd" and ev["eps"] == 0.2
    assert ev["robust_accuracy"] == rec.evaluation.data["robust_accuracy"]
    assert row["membership"]["id"] == rec.membership.id
    assert row["membership"]["auc"] == rec.membership.data["auc"]
    assert "campaign" not in row

    charts = client.get(
        f"/api/v1/robustness/evidence/{rec.evaluation.id}/charts", headers=viewer
    ).json()["charts"]
    assert set(charts) == {"curve", "radii"}
    assert charts["curve"].startswith("<?xml") and "certified L2 radius" in charts["radii"]
    roc = client.get(f"/api/v1/robustness/evidence/{rec.membership.id}/charts", headers=viewer)
    assert set(roc.json()["charts"]) == {"roc"}
    assert client.get("/api/v1/robustness/evidence/nope/charts", headers=viewer).status_code == 404


def test_campaign_validation_needs_write_and_says_why(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    url = "/api/v1/robustness/campaigns/validate"
    assert client.post(url, content=CAMPAIGN).status_code == 401
    assert (
        client.post(url, content=CAMPAIGN, headers=_auth(sqlite_ws, Role.VIEWER)).status_code == 403
    )
    eng = _auth(sqlite_ws, Role.ENGINEER)
    r = client.post(url, content=CAMPAIGN, headers=eng)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["valid"] and doc["tasks"] == 2 and doc["digest"].startswith("sha256:")
    assert [t["kind"] for t in doc["targets"]] == ["model", "endpoint"]
    bad = client.post(url, content=CAMPAIGN.replace(b"attack: square", b"attack: deepfool"),
                      headers=eng)  # fmt: skip
    assert bad.status_code == 422 and "unknown attack 'deepfool'" in bad.text
    big = client.post(url, content=b"#" * (300 * 1024), headers=eng)
    assert big.status_code == 413
