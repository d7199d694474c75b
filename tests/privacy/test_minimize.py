"""Minimization: permutation and drop-column importance with bootstrap CIs, PII columns the
model could do without, the evidence, the CLI and the API route."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.minimize import MinimizationCheck, bootstrap_ci, minimize
from bastion.robustness import RobustnessError
from tests._cli import start

FEATURES = ["age", "income", "zip_code", "noise"]


def _data(tmp: Path, n: int = 1500) -> tuple[Path, Path]:
    """Label from age and income; zip_code (PII) and noise carry nothing; an e-mail column
    the model never sees."""
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, n).astype(float)
    income = rng.normal(50, 15, n)
    zip_code = rng.integers(10000, 99999, n).astype(float)
    noise = rng.normal(size=n)
    y = ((income - 50) / 15 + (age - 50) / 20 + rng.normal(scale=0.5, size=n) > 0).astype(int)
    lines = ["age,income,zip_code,noise,email,label"] + [
        f"{a:.0f},{b:.3f},{z:.0f},{c:.3f},user{i}@example.com,{lab}"
        for i, (a, b, z, c, lab) in enumerate(zip(age, income, zip_code, noise, y, strict=True))
    ]
    data = tmp / "train.csv"
    data.write_text("\n".join(lines) + "\n")
    model = LogisticRegression(max_iter=2000).fit(np.stack([age, income, zip_code, noise], 1), y)
    mp = tmp / "model.pkl"
    mp.write_bytes(pickle.dumps(model, protocol=4))
    return mp, data


def test_bootstrap_ci_covers_the_mean_and_narrows_with_rows() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(0.3, 1.0, 200)
    big = rng.normal(0.3, 1.0, 20000)
    lo_s, hi_s = bootstrap_ci(small, rng, 500, 0.95)
    lo_b, hi_b = bootstrap_ci(big, rng, 500, 0.95)
    assert lo_s < small.mean() < hi_s and lo_b < 0.3 < hi_b
    assert (hi_b - lo_b) < (hi_s - lo_s) / 5


def test_needed_features_and_pii_the_model_can_do_without(ws: Workspace, tmp_path: Path) -> None:
    mp, data = _data(tmp_path)
    rep = minimize(ws, mp, data, "label", features=FEATURES, tolerance=0.02, bootstrap=500)
    by = {f.feature: f for f in rep.data.features}
    assert by["age"].verdict == by["income"].verdict == "needed"
    assert by["age"].permutation is not None and by["age"].permutation["ci_low"] > 0.1
    assert by["age"].drop_column is not None and by["age"].drop_column["ci_low"] > 0.05
    assert by["zip_code"].pii_entity == "POSTAL_CODE" and by["zip_code"].verdict == "removable"
    assert by["email"].verdict == "unused" and by["email"].pii_entity == "EMAIL_ADDRESS"
    assert rep.data.removable_pii == ("zip_code",) and rep.data.unused_pii == ("email",)
    assert rep.data.methods == ("permutation", "drop_column") and 0.85 < rep.data.baseline < 0.95
    ev = rep.evidence
    assert ev is not None and ev.verdict.value == "warn" and ev.ledger_seq is not None
    typed = MinimizationCheck.read(ev)
    assert typed.model_digest == ev.subject.digest and typed.unused_pii == ("email",)
    assert {f.location for f in ev.findings} == {"zip_code", "email"}
    # Same seed, same figures: the report is reproducible.
    again = minimize(None, mp, data, "label", features=FEATURES, tolerance=0.02, bootstrap=500)
    assert again.data.features == rep.data.features and again.evidence is None


def test_log_loss_metric_and_permutation_only(tmp_path: Path) -> None:
    mp, data = _data(tmp_path, 800)
    rep = minimize(
        None, mp, data, "label", features=FEATURES, metric="log_loss", drop_column=False,
        bootstrap=300,
    )  # fmt: skip
    assert rep.data.methods == ("permutation",) and rep.data.baseline < 0
    assert all(f.drop_column is None for f in rep.data.features)
    assert rep.permutation[1].delta > 0.1  # income


def test_bad_input_is_named(tmp_path: Path) -> None:
    mp, data = _data(tmp_path, 200)
    with pytest.raises(InputError, match="no target column 'nope'"):
        minimize(None, mp, data, "nope")
    with pytest.raises(InputError, match="no column 'ghost'"):
        minimize(None, mp, data, "label", features=["age", "ghost"])
    with pytest.raises(InputError, match="model takes"):
        minimize(None, mp, data, "label", features=["age", "income"])
    with pytest.raises(InputError, match="metric"):
        minimize(None, mp, data, "label", features=FEATURES, metric="auc")
    with pytest.raises(InputError, match="not numerical"):
        minimize(None, mp, data, "label", features=["age", "income", "zip_code", "email"])
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(RobustnessError, match="only a safe model is loaded"):
        minimize(None, evil, data, "label", features=FEATURES)


def test_cli_minimize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = start(tmp_path, capsys)
    mp, data = _data(tmp_path, 1000)
    args = ["data", "minimize", "--model", str(mp), "--data", str(data), "--target", "label",
            "--features", ",".join(FEATURES), "--tolerance", "0.02", "--bootstrap", "300"]  # fmt: skip
    doc = run.json(*args)
    assert doc["unused_pii"] == ["email"] and doc["evidence_id"]
    rc, out, _ = run(*args)
    assert rc == 0 and "EMAIL_ADDRESS column not used by the model" in out and "needed" in out
    rc, _, err = run("data", "minimize", "--model", str(mp), "--data", str(data), "-t", "x")
    assert rc == 2 and "no target column" in err


def test_api_minimize_denies_by_default_and_records(ws: Workspace, tmp_path: Path) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    mp, data = _data(tmp_path, 800)
    body = {"model_base64": base64.b64encode(mp.read_bytes()).decode(),
            "data_csv": data.read_text(), "target": "label", "features": FEATURES,
            "bootstrap": 200, "tolerance": 0.02}  # fmt: skip
    assert client.post("/api/v1/data/minimize", json=body).status_code == 401
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    assert client.post("/api/v1/data/minimize", json=body, headers=viewer).status_code == 403
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    r = client.post("/api/v1/data/minimize", json=body, headers=eng)
    assert r.status_code == 200, r.text
    assert r.json()["unused_pii"] == ["email"] and r.json()["evidence_id"]
    bad = {**body, "path": "/etc/passwd"}
    assert client.post("/api/v1/data/minimize", json=bad, headers=eng).status_code == 422
