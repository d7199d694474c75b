"""`bastion redteam llm` and `llm-serve` end to end: evidence, reports, refusals."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bastion.robustness.llm import LlmProbesCheck, load_probes
from bastion.robustness.llm.testservers import RunningServer
from tests._cli import Run, start


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def _llm_evidence(run: Run) -> list[dict[str, object]]:
    rc, out, _ = run("evidence", "list", "--format", "json")
    assert rc == 0
    return [e for e in json.loads(out) if e["check_id"] == "robustness.llm_probes"]


def test_vulnerable_endpoint_fails_with_evidence_and_reports(
    run: Run, vulnerable: RunningServer, tmp_path: Path
) -> None:
    reports = [tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.sarif"]
    rc, out, err = run(
        "redteam", "llm", vulnerable.url, "--seed", "5", "--name", "chat-demo",
        *(a for r in reports for a in ("--report", str(r))), "--json",
    )  # fmt: skip
    assert rc == 1, err
    doc = json.loads(out)
    assert doc["verdict"] == "fail" and doc["found"] == len(load_probes()) and doc["evidence"]
    rc, out, _ = run("evidence", "show", doc["evidence"], "--format", "json")
    ev = json.loads(out)
    assert rc == 0 and ev["check_id"] == "robustness.llm_probes"
    assert ev["subject"]["kind"] == "endpoint" and ev["subject"]["ref"] == "chat-demo"
    assert ev["data"]["families"]["excessive_agency"]["found"] == 4
    assert {"llm-probes.svg", "llm-probes.html"} <= set(ev["data"]["attachments"])
    assert json.loads(reports[0].read_text())["found_probes"] == doc["found_probes"]
    md = reports[1].read_text()
    assert "## Findings" in md and "owasp-llm:2025:LLM07" in md
    assert "| agency.shell | excessive_agency | found |" in md
    page = reports[2].read_text()
    assert "<svg" in page and "Content-Security-Policy" in page
    assert "<td>leak.reversed</td><td>system_prompt_leak</td><td>found</td>" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page  # the reply is escaped
    assert "BASTION-CANARY-" not in page + md + out
    sarif = json.loads(reports[3].read_text())
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    results = sarif["runs"][0]["results"]
    assert len(results) == doc["findings_total"]
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in results} == rule_ids
    assert "robustness.llm.excessive_agency.tool" in rule_ids
    agency = next(r for r in results if r["ruleId"] == "robustness.llm.excessive_agency.tool")
    assert agency["level"] == "error" and "AML.T0053" in agency["properties"]["atlas"]


def test_sarif_format_on_stdout(
    run: Run, hardened: RunningServer, vulnerable: RunningServer
) -> None:
    rc, out, _ = run("redteam", "llm", hardened.url, "--no-record", "--format", "sarif")
    assert rc == 0 and json.loads(out)["runs"][0]["results"] == []
    rc, out, _ = run(
        "redteam",
        "llm",
        vulnerable.url,
        "--probes",
        "insecure_output",
        "--no-record",
        "-f",
        "sarif",
    )
    levels = {r["level"] for r in json.loads(out)["runs"][0]["results"]}
    assert rc == 1 and levels == {"error"}


def test_typed_evidence_reads_back(run: Run, vulnerable: RunningServer) -> None:
    from bastion.cli._common import workspace

    rc, out, err = run("redteam", "llm", vulnerable.url, "--probes", "encoding", "--json")
    assert rc == 1, err
    doc = json.loads(out)
    with workspace() as ws:
        data = LlmProbesCheck.read(ws.evidence.get(doc["evidence"]))
    assert data.found == 4 and data.families["encoding"].found == 4
    assert all(f.family == "encoding" for f in data.findings)


def test_hardened_endpoint_passes_table_output(run: Run, hardened: RunningServer) -> None:
    rc, out, err = run("redteam", "llm", hardened.url)
    assert rc == 0, err
    assert "pass, 0 of" in out and "system_prompt_leak" in out and "evidence" in out
    assert _llm_evidence(run)[0]["verdict"] == "pass"


def test_template_target_with_canary_and_garak_merge(
    run: Run, vulnerable: RunningServer, tmp_path: Path
) -> None:
    tpl = tmp_path / "chat.yaml"
    tpl.write_text("body: {prompt: $INPUT}\nresponse_path: $.text\n", encoding="utf-8")
    hitlog = tmp_path / "g.hitlog.jsonl"
    hitlog.write_text(json.dumps({"probe": "encoding.InjectHex", "detector": "encoding.DecodeMatch",
                                  "score": 1.0, "prompt": "p", "output": "o"}) + "\n")  # fmt: skip
    rc, out, err = run(
        "redteam", "llm", vulnerable.url + "/chat", "--template", str(tpl),
        "--probes", "system_prompt_leak,excessive_agency", "--canary", "CANARY-7f3a9c21e4b05d86",
        "--garak-report", str(hitlog), "--no-record", "--format", "json",
    )  # fmt: skip
    assert rc == 1, err
    doc = json.loads(out)
    assert doc["target_kind"] == "http-template" and doc["evidence"] is None
    assert doc["families"]["system_prompt_leak"]["found"] == 5
    assert doc["families"]["excessive_agency"]["skipped"] == 4
    assert doc["sources"] == ["bastion", "garak"] and doc["families"]["encoding"]["findings"] == 1
    assert not _llm_evidence(run)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["https://api.example.com/v1"], "add --allow-host api.example.com"),
        (["{url}", "--probes", "nope"], "unknown probe or family"),
        (["{url}", "--report", "out.txt"], "expected a .json, .md, .html or .sarif"),
        (["{url}", "--garak"], "garak is not installed"),
        (["{url}", "--max-requests", "2"], "over the budget of 2"),
        (["{url}", "--api-key-env", "BASTION_NO_SUCH_VAR"], "BASTION_NO_SUCH_VAR is not set"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    run: Run, vulnerable: RunningServer, args: list[str], match: str
) -> None:
    before = vulnerable.requests
    rc, _out, err = run("redteam", "llm", *(a.format(url=vulnerable.url) for a in args))
    assert rc == 2 and match in err and "Traceback" not in err
    assert vulnerable.requests == before and not _llm_evidence(run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["vulnerable", "hardened"])
def test_llm_serve_runs_the_test_server(mode: str) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bastion.cli.main import main; main()",
         "redteam", "llm-serve", f"--{mode}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        health = None
        for _ in range(200):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health == {"status": "ok", "mode": mode}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_dry_run_shows_the_exchange_whole(
    run: Run, vulnerable: RunningServer, tmp_path: Path
) -> None:
    tpl = tmp_path / "chat.yaml"
    tpl.write_text("body: {prompt: $INPUT}\nresponse_path: $.text\n", encoding="utf-8")
    before = vulnerable.requests
    rc, out, err = run(
        "redteam", "llm", vulnerable.url + "/chat", "--template", str(tpl), "--dry-run", "--json"
    )
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["request"] == {"prompt": "Hello! What can you help me with?"}
    assert shown["text"].startswith("Sure, here you go:") and shown["error"] is None
    assert json.loads(shown["response"])["text"] == shown["text"]
    assert not shown["configurable_system_prompt"] and vulnerable.requests == before + 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("body: {prompt: $INPUT}\nresponse_path: $.answer\n", encoding="utf-8")
    rc, out, _ = run(
        "redteam", "llm", vulnerable.url + "/chat", "--template", str(bad), "--dry-run"
    )
    assert rc == 1 and "nothing at $.answer" in out and "response:" in out
    assert not _llm_evidence(run)
