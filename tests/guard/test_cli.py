"""`bastion guard ...` end to end through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bastion.core.workspace import Workspace
from tests._cli import Run
from tests.guard._support import fronted_model, policy_dir
from tests.guard.conftest import OK_BODY, Env


def _config(root: Path, *, policies: bool) -> Path:
    if policies:
        policy_dir(root)
    p = root / "guard.yaml"
    p.write_text(
        "name: cli-guard\n"
        + ("policy_dir: policies\n" if policies else "")
        + """
endpoints:
  - name: credit
    upstream: http://127.0.0.1:9/predict
    model: credit-gbm@1
    require_stage: staging
    features: [income, age, debt]
egress:
  - {host: 127.0.0.1, port: 9}
"""
    )
    return p


def test_check_lists_every_problem_then_passes(
    sqlite_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run(sqlite_ws.settings.home, capsys)
    bad = _config(tmp_path, policies=False)
    res = run.json("guard", "check", str(bad), rc=1)
    assert not res["ok"]
    assert any("credit-gbm@1 is not registered" in p for p in res["problems"])
    assert any("no authorizer" in p for p in res["problems"])
    rc, out, err = run("guard", "run", str(bad))
    assert rc == 2 and "refusing to front credit-gbm@1" in err

    fronted_model(sqlite_ws, tmp_path)
    good = _config(tmp_path, policies=True)
    res = run.json("guard", "check", str(good))
    assert res["ok"], res["problems"]
    assert res["models"][0]["ok"] and res["models"][0]["digest"].startswith("sha256:")
    rc, out, err = run("guard", "check", str(good))
    assert rc == 0 and "the guard can start" in out

    (tmp_path / "broken.yaml").write_text("name: x\nendpoints: []\n")
    rc, out, err = run("guard", "check", str(tmp_path / "broken.yaml"))
    assert rc == 2 and "endpoints" in err


def test_egress_policy_document(
    sqlite_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run(sqlite_ws.settings.home, capsys)
    rc, out, err = run("guard", "egress-policy", str(_config(tmp_path, policies=False)),
                       "--namespace", "ml")  # fmt: skip
    assert rc == 0, err
    doc = yaml.safe_load(out)
    assert doc["kind"] == "NetworkPolicy" and doc["metadata"]["namespace"] == "ml"
    assert doc["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "127.0.0.1/32"}}]


def test_decisions_from_the_ledger(
    make_env: Callable[..., Env], capsys: pytest.CaptureFixture[str]
) -> None:
    env = make_env()
    assert env.post(OK_BODY).status_code == 200
    assert env.post(OK_BODY, who="bob").status_code == 403
    env.guard.audit.flush()  # type: ignore[union-attr]
    run = Run(env.ws.settings.home, capsys)
    rows = run.json("guard", "decisions")
    assert [(r["principal"], r["decision"]) for r in rows] == [("token:bob", "deny"),
                                                               ("token:alice", "allow")]  # fmt: skip
    denied = run.json("guard", "decisions", "--denied")
    assert [r["reason"] for r in denied] == ["role-not-allowed"]
    rc, out, _ = run("guard", "decisions", "--endpoint", "credit")
    assert rc == 0 and "role-not-allowed" in out
    assert json.loads(json.dumps(rows))  # plain JSON
