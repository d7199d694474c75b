"""POST /api/v1/checks/robustness.evaluation/run: the evaluation through the API, with
only the parameters an API caller may set."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace


@pytest.fixture
def client_ws(
    tmp_path: Path, digits_files: dict[str, Path]
) -> Iterator[tuple[TestClient, Workspace]]:
    roots = tmp_path / "models"
    roots.mkdir()
    for name in ("onnx", "npz"):
        shutil.copy(digits_files[name], roots / digits_files[name].name)
    ws, _ = init_workspace(get_settings(home=tmp_path / "home", check_roots=[roots]))
    try:
        with TestClient(create_app(ws.settings, workspace=ws)) as c:
            yield c, ws
    finally:
        ws.close()


def test_api_runs_the_evaluation_and_refuses_what_a_caller_may_not_set(
    client_ws: tuple[TestClient, Workspace],
) -> None:
    client, ws = client_ws
    token = create_token(ws, name="eve", role=Role.ENGINEER)
    eng = {"Authorization": f"Bearer {token.token}"}
    url = "/api/v1/checks/robustness.evaluation/run"
    body = {
        "subject": {"kind": "model", "ref": "digits.onnx"},
        "params": {"data": "digits.npz", "eps": "0.05,0.1", "steps": 10, "samples": 60},
    }
    r = client.post(url, headers=eng, json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["verdict"] == "pass" and doc["data"]["valid"] is True
    assert doc["subject"]["digest"].startswith("sha256:")
    assert set(doc["data"]["robust_accuracy_at"]) == {"eps_0_05", "eps_0_1"}
    for params in (
        {"data": "digits.npz", "allow": "x.yaml"},  # a scan allowlist: operator only
        {"data": "digits.npz", "steps": 100_000},  # out of range
        {"data": "/etc/passwd"},  # outside the check roots
    ):
        bad = client.post(url, headers=eng, json={**body, "params": params})
        assert bad.status_code == 422, (params, bad.text)
    anon = client.post(url, json=body)
    assert anon.status_code == 401
    meta = {c["id"]: c for c in client.get("/api/v1/checks", headers=eng).json()}
    assert "allow" not in meta["robustness.evaluation"]["remote_params"]


def test_api_runs_membership_inference_on_a_model_in_the_check_roots(
    tmp_path: Path, digits: Any
) -> None:
    import pickle

    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    roots = tmp_path / "models"
    roots.mkdir()
    x = np.concatenate([digits.x_train, digits.x_test])
    y = np.concatenate([digits.y_train, digits.y_test])
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(x[:300], y[:300])
    (roots / "rf.pkl").write_bytes(pickle.dumps(rf))
    np.savez(roots / "members.npz", x=x[:300], y=y[:300])
    np.savez(roots / "holdout.npz", x=x[300:600], y=y[300:600])
    ws, _ = init_workspace(get_settings(home=tmp_path / "home", check_roots=[roots]))
    try:
        with TestClient(create_app(ws.settings, workspace=ws)) as client:
            token = create_token(ws, name="eve", role=Role.ENGINEER)
            eng = {"Authorization": f"Bearer {token.token}"}
            url = "/api/v1/checks/robustness.membership/run"
            body = {
                "subject": {"kind": "model", "ref": "rf.pkl"},
                "params": {
                    "members": "members.npz",
                    "nonmembers": "holdout.npz",
                    "max_auc": 0.6,
                    "bootstrap": 20,
                },
            }
            r = client.post(url, headers=eng, json=body)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["verdict"] == "fail" and doc["data"]["auc"] > 0.7
            assert doc["subject"]["digest"].startswith("sha256:")
            for params in (
                {**body["params"], "bootstrap": 100_000},  # out of range
                {**body["params"], "shadow_budget_seconds": 1000},  # not an API parameter
                {**body["params"], "members": "/etc/passwd"},  # outside the check roots
            ):
                bad = client.post(url, headers=eng, json={**body, "params": params})
                assert bad.status_code == 422, (params, bad.text)
            assert client.post(url, json=body).status_code == 401
    finally:
        ws.close()
