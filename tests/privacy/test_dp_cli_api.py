"""`bastion privacy` and /api/v1/privacy end to end (real CLI entry point, real app)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.cli.main import main
from bastion.core.workspace import Workspace
from tests._otp import fresh
from tests.privacy.test_synth import _csv


def _cli(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_plan_budget_release_train_synth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert _cli(home, capsys, "init")[0] == 0
    rc, out, _ = _cli(
        home, capsys, "privacy", "plan", "--epsilon", "3", "--delta", "1e-5",
        "--sample-rate", "0.01", "--epochs", "10", "--format", "json",
    )  # fmt: skip
    p = json.loads(out)
    assert rc == 0 and p["steps"] == 1000 and 0.8 < p["noise_multiplier"] < 0.9
    rc, out, _ = _cli(
        home, capsys, "privacy", "plan", "--noise-multiplier", str(p["noise_multiplier"]),
        "--delta", "1e-5", "--sample-rate", "0.01", "--steps", "1000", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["epsilon"] == pytest.approx(3, rel=1e-3)
    data = tmp_path / "applicants.csv"
    data.write_bytes(_csv())
    rc, _, err = _cli(home, capsys, "privacy", "release", "applicants", str(data), "-c", "age",
                      "-a", "count", "--epsilon", "0.5")  # fmt: skip
    assert rc == 2 and "no privacy budget" in err
    assert _cli(home, capsys, "privacy", "budget", "set", "applicants", "--epsilon", "4",
                "--delta", "1e-5")[0] == 0  # fmt: skip
    rc, _, err = _cli(home, capsys, "privacy", "release", "applicants", str(data), "-c", "age",
                      "-a", "mean", "--epsilon", "0.5", "--lower", "90", "--upper", "0")  # fmt: skip
    assert rc == 2 and "reversed" in err
    rc, _, err = _cli(home, capsys, "privacy", "release", "applicants", str(data), "-c", "age",
                      "-a", "count", "--epsilon", "0")  # fmt: skip
    assert rc == 2 and "above 0" in err
    rc, out, err = _cli(home, capsys, "privacy", "release", "applicants", str(data), "-c", "age",
                        "-a", "mean", "--epsilon", "0.5", "--lower", "0", "--upper", "100",
                        "--format", "json")  # fmt: skip
    assert rc == 0, err
    r = json.loads(out)
    assert 30 < r["value"] < 50 and r["spent_epsilon"] <= 0.5 + 1e-9
    rc, out, err = _cli(home, capsys, "privacy", "release", "applicants", str(data), "-c", "region",
                        "-a", "histogram", "--categories", "north,south,east", "--epsilon", "0.5",
                        "--format", "json")  # fmt: skip
    assert rc == 0, err
    assert set(json.loads(out)["value"]) == {"north", "south", "east"}
    # Training data: numerical features, 0/1 label.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 2))
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    train = tmp_path / "train.csv"
    train.write_text(
        "f1,f2,label\n" + "\n".join(f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(x, y, strict=True))
    )
    model = tmp_path / "model.json"
    rc, out, err = _cli(home, capsys, "privacy", "train", "applicants", str(train), "--label", "label",
                        "--epsilon", "2", "--delta", "1e-5", "--sample-rate", "0.05", "--out", str(model),
                        "--format", "json")  # fmt: skip
    assert rc == 0, err
    assert json.loads(model.read_text())["privacy"]["epsilon"] == 2
    chart = tmp_path / "budget.svg"
    rc, out, _ = _cli(home, capsys, "privacy", "budget", "show", "applicants", "--chart", str(chart),
                      "--format", "json")  # fmt: skip
    b = json.loads(out)
    assert [s["kind"] for s in b["spends"]] == ["release", "release", "training"]
    assert chart.read_text().startswith("<?xml")
    # Over budget: refused, nothing spent, no model written.
    model2 = tmp_path / "model2.json"
    rc, _, err = _cli(home, capsys, "privacy", "train", "applicants", str(train), "--label", "label",
                      "--epsilon", "8", "--delta", "1e-5", "--sample-rate", "0.05", "--out", str(model2))  # fmt: skip
    assert rc == 2 and "nothing was spent" in err and not model2.exists()
    # Synthetic data: passes; a ragged CSV is refused with no output left behind.
    syn = tmp_path / "syn.csv"
    rc, out, err = _cli(home, capsys, "privacy", "synth", str(data), "--out", str(syn), "--seed", "1",
                        "--format", "json")  # fmt: skip
    assert rc == 0, out + err
    assert syn.read_text().splitlines()[0] == "age,income,band,region"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    syn2 = tmp_path / "syn2.csv"
    rc, _, err = _cli(home, capsys, "privacy", "synth", str(ragged), "--out", str(syn2))
    assert rc == 2 and "ragged" in err and not syn2.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    return TestClient(create_app(ws.settings, workspace=ws))


def test_api_routes_deny_by_default_and_work(client: TestClient, ws: Workspace) -> None:
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    admin_t = create_token(ws, name="a", role=Role.ADMIN)
    assert client.get("/api/v1/privacy/dp/budget?dataset=x").status_code == 401
    r = client.get(
        "/api/v1/privacy/dp/plan",
        params={"epsilon": 3, "delta": 1e-5, "sample_rate": 0.01, "epochs": 10},
        headers=viewer,
    )
    assert r.status_code == 200 and r.json()["steps"] == 1000
    body = {"dataset": "api-set", "epsilon": 1.0, "delta": 1e-6}
    assert client.put("/api/v1/privacy/dp/budget", json=body, headers=eng).status_code == 403
    assert admin_t.totp_secret is not None
    admin = {
        "Authorization": f"Bearer {admin_t.token}",
        "X-Bastion-OTP": fresh(admin_t.totp_secret),
    }
    r = client.put("/api/v1/privacy/dp/budget", json=body, headers=admin)
    assert r.status_code == 200, r.text
    rel = {"dataset": "api-set", "values": list(range(100)), "aggregate": "sum",
           "epsilon": 0.7, "lower": 0, "upper": 100}  # fmt: skip
    assert client.post("/api/v1/privacy/dp/release", json=rel, headers=viewer).status_code == 403
    r = client.post("/api/v1/privacy/dp/release", json=rel, headers=eng)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/privacy/dp/release", json=rel, headers=eng)
    assert r.status_code == 409 and "nothing was spent" in r.json()["detail"]
    bad = {**rel, "path": "/etc/passwd"}
    assert client.post("/api/v1/privacy/dp/release", json=bad, headers=eng).status_code == 422
    r = client.post("/api/v1/privacy/dp/release", json={**rel, "epsilon": 0}, headers=eng)
    assert r.status_code == 422 and "above 0" in r.json()["detail"]
    r = client.get("/api/v1/privacy/dp/budget", params={"dataset": "api-set"}, headers=viewer)
    assert len(r.json()["spends"]) == 1
    r = client.get("/api/v1/privacy/dp/budget/chart", params={"dataset": "api-set"}, headers=viewer)
    assert r.headers["content-type"].startswith("image/svg+xml")
    r = client.post(
        "/api/v1/privacy/synthetic?include_rows=true",
        # 1,200 rows, as the room tests use: with 600 the privacy metrics' sampling error
        # let about one unseeded run in 30 cross the 0.6 closer-to-train threshold.
        content=_csv(1200),
        headers={**eng, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] in ("pass", "warn") and r.json()["csv"].startswith("age,")
