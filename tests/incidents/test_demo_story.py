"""``bastion.incidents.demo_story`` on the demo's state: the example's real trained model,
v1 and the retrained v2 both cleared through the tier-1 gate, v2 rolled back (as the
demo's registry step leaves it). The story re-approves v2, fronts it with the real guard,
and must end with v1 back in production, v2 quarantined, the scraper's token dead, the
custody report verifying and the OCSF and Sigma exports written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from bastion.access import authenticate
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace
from bastion.incidents import demo_story, get_incident, is_quarantined, verify_report
from bastion.registry import get_model, promote, register_model, rollback
from tests.incidents.test_incidents import _clear
from tests.registry._helpers import EXAMPLES, approver, setup


def _trainer() -> Any:
    spec = importlib.util.spec_from_file_location("d12_train", EXAMPLES / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_story_rolls_back_revokes_and_verifies_custody(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    trainer = _trainer()
    example = tmp_path / "example"
    trainer.build(example, n_applicants=1500)
    trainer.build(tmp_path / "retrained", n_applicants=1500, seed=8)
    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    for d in (example, tmp_path / "retrained"):
        v = register_model(ws, "credit-gbm", d / "models" / "credit-gbm", system="credit-scoring",
                           asset="credit-gbm", authors=["dana"], actor="dana")  # fmt: skip
        _clear(ws, v, sec, voters)
        assert promote(ws, "credit-gbm", v.version, "production", actor="dana").promoted
    rollback(ws, "credit-gbm", "1", reason="degradation after v2", actor="sam")

    lines: list[tuple[str, str]] = []
    res = demo_story(ws, example, lambda t, d: lines.append((t, d)))

    assert 5 <= len(lines) <= 7, lines
    assert "re-approved" in lines[0][1] and "drift raised on income" in lines[0][1]
    assert res.attacked == "2" and res.rolled_back_to == "1"
    assert {"drift_new_client", "extraction"} <= set(res.detections), res.detections
    assert "AI model extraction reported by the gateway" in res.sigma
    assert "Data or prediction drift raised on a model" in res.sigma
    assert res.playbook_ok, res.actions
    assert get_model(ws, "credit-gbm").production is not None
    assert get_model(ws, "credit-gbm").production.version == "1"  # type: ignore[union-attr]
    assert is_quarantined(ws, "credit-gbm", "2")
    try:
        authenticate(ws, res.token)
        raise AssertionError("the scraper's token still works")
    except AuthError:
        pass
    assert get_incident(ws, res.incident).status.value == "contained"
    assert res.custody_ok, res.custody_problems
    # the files an auditor and a SOC get: the report verifies offline from the file alone
    log = Path(res.files["ocsf"])
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert {e["class_uid"] for e in events} >= {6003, 2004}
    report = json.loads(Path(res.files["custody_report"]).read_text())
    arts = {a["artifact"]["id"]: log.read_bytes() for a in report["artifacts"]}
    assert verify_report(report, artifacts=arts).ok
    tampered = {k: v + b"\n" for k, v in arts.items()}
    assert not verify_report(report, artifacts=tampered).ok
    alerts = [json.loads(x) for x in Path(res.files["sigma_alerts"]).read_text().splitlines()]
    assert len(alerts) == sum(res.sigma.values())
    if importlib.util.find_spec("sigma") is not None:
        assert "extraction" in Path(res.files["splunk"]).read_text().lower()
        assert res.converted["elastic"] > 0
    else:
        assert "pySigma not installed" in lines[-1][1]
    assert ws.ledger.verify().ok


def test_demo_story_refuses_a_table_too_small_for_the_replay(tmp_path: Path) -> None:
    import pytest

    from bastion.core.errors import ConfigError
    from bastion.incidents._story import _reference

    (tmp_path / "features.csv").write_text("income,age\n" + "1,2\n" * 300)
    with pytest.raises(ConfigError, match="at least 810"):
        _reference(tmp_path, ["income", "age"])
    with pytest.raises(ConfigError, match="no column 'debt'"):
        _reference(tmp_path, ["income", "debt"])
    with pytest.raises(ConfigError, match="feature table is missing"):
        _reference(tmp_path / "nowhere", ["income"])
