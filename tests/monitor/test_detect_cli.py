"""``bastion monitor detect`` and ``bastion monitor sigma`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._cli import Run, start
from tests.monitor.test_detections import T0, call, guard_finding


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_detect_raises_detections_and_sigma_matches(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    stream = [
        call("app", T0),
        guard_finding("mallory", T0 + 1000, "AML.T0024.002", "guard.extraction"),
        *[call("eve", T0 + 2000 + i * 100, ok=False) for i in range(5)],
    ]
    log.write_text("\n".join(json.dumps(e) for e in stream) + "\nnot json\n")
    out_file = tmp_path / "findings.jsonl"
    rc, out, err = run("monitor", "detect", str(log), "--findings", str(out_file),
                       "--format", "json")  # fmt: skip
    assert rc == 2, err  # the bad line, reported by number; the rest still examined
    assert "line 8: not valid JSON" in err
    rep = json.loads(out)
    assert rep["events"] == 7 and rep["bad_lines"] == 1
    assert sorted(d["kind"] for d in rep["detections"]) == ["denial_burst", "extraction"]
    titles = {m["title"] for m in rep["sigma_matches"]}
    assert "Burst of denied requests by one principal" in titles
    findings = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert [f["class_uid"] for f in findings] == [2004, 2004]
    # the findings feed the next tools: tail shows them as CEF
    rc, out, _ = run("monitor", "tail", str(out_file), "--as", "cef")
    assert rc == 0 and out.count("CEF:0|Bastion") == 2
    entries = run.json("ledger", "list", "--kind", "monitor.detection")
    assert len(entries) >= 2
    rc, _, _ = run("ledger", "verify")
    assert rc == 0


def test_detect_with_config_and_quiet_log(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "quiet.jsonl"
    log.write_text(json.dumps(call("alice", T0 + 9 * 3_600_000)) + "\n")
    cfg = tmp_path / "detect.yaml"
    cfg.write_text("working_hours:\n  alice: {timezone: Europe/Paris}\n")
    rc, out, _ = run("monitor", "detect", str(log), "--no-sigma")
    assert rc == 0 and "0 detections" in out
    rc, out, _ = run("monitor", "detect", str(log), "--config", str(cfg), "--no-sigma")
    assert rc == 1 and "off_hours" in out
    cfg.write_text("denial_threshold: one\n")
    rc, _, err = run("monitor", "detect", str(log), "--config", str(cfg))
    assert rc == 2 and "denial_threshold" in err


def test_sigma_export_and_list(run: Run, tmp_path: Path) -> None:
    data = run.json("monitor", "sigma", "export", "--target", "splunk")
    assert data["target"] == "splunk" and any("event_count" in q for q in data["queries"])
    rc, out, _ = run("monitor", "sigma", "export", "--target", "elastic")
    assert rc == 0 and "from * metadata" in out
    rows = run.json("monitor", "sigma", "list")
    assert any(r["correlation"] for r in rows) and all(r["id"] for r in rows)
    bad = tmp_path / "bad.yml"
    bad.write_text("title: t\nid: x\nlogsource: {product: windows}\n")
    rc, _, err = run("monitor", "sigma", "export", "--target", "splunk", "--rules", str(bad))
    assert rc == 2 and "logsource product must be ai_gateway" in err
