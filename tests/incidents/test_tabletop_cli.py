"""``bastion tabletop`` end to end: scenarios, start, decide, advance, status, report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._cli import Run, start
from tests.registry._helpers import GOVERNANCE


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = start(tmp_path, capsys)
    code, out, err = r("governance", "apply", str(GOVERNANCE), "--actor", "test")
    assert code == 0, out + err  # the escalation matrix the playbook takes owners from
    return r


def test_tabletop_cli(run: Run, tmp_path: Path) -> None:
    got = run.json("tabletop", "scenarios")
    assert {"extraction-then-leak", "weights-export"} <= {s["id"] for s in got}
    s = run.json("tabletop", "start", "extraction-then-leak", "--speed", "1", "--actor", "fac")
    sid = s["id"]
    assert [st["step"] for st in s["steps"]] == ["contain", "preserve", "assess", "legal"]
    s = run.json("tabletop", "decide", sid, "roll back, revoke", "--step", "contain",
                 "--actor", "alice")  # fmt: skip
    assert s["steps"][0]["status"] == "met" and s["decisions"][0]["actor"] == "alice"
    s = run.json("tabletop", "advance", sid, "5h", "--actor", "fac")
    assert s["pending_injects"] == 0 and s["steps"][1]["status"] == "missed"
    code, out, _ = run("tabletop", "status", sid)
    assert code == 0 and "missed" in out and "Weights of fraud-scorer" in out
    code, out, err = run("tabletop", "decide", sid, "x", "--step", "teleport")
    assert code == 2 and "not in playbook" in out + err
    report = tmp_path / "aar.md"
    code, out, _ = run("tabletop", "report", sid, "-o", str(report), "--actor", "fac")
    assert code == 1  # a step was missed
    text = report.read_text()
    assert "# After-action report" in text and "| preserve:" in text and "missed" in text
    html = tmp_path / "aar.html"
    assert run("tabletop", "report", sid, "-o", str(html))[0] == 1
    assert html.read_text().startswith("<!doctype html>")
    ev = run.json("evidence", "list", "--check", "incidents.tabletop")
    assert len(ev) == 2 and ev[0]["verdict"] == "fail"
