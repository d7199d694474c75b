"""``bastion monitor`` end to end through the CLI runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from bastion.monitor import Actor, ApiActivity, DetectionFinding, Severity
from tests._cli import Run, start


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def _tables(tmp_path: Path, shift: float) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    n = 4000
    ref = {"income": rng.normal(50, 10, n), "age": rng.normal(40, 12, n),
           "region": rng.choice(["n", "s", "e"], n).tolist(), "score": rng.uniform(0, 1, n)}  # fmt: skip
    cur = {"income": rng.normal(50 + shift, 10, n), "age": rng.normal(40, 12, n),
           "region": rng.choice(["n", "s", "e"], n).tolist(), "score": rng.uniform(0, 1, n)}  # fmt: skip
    rp, cp = tmp_path / "ref.parquet", tmp_path / "cur.csv"
    pq.write_table(pa.table(ref), rp)
    pacsv.write_csv(pa.table(cur), cp)
    return rp, cp


def test_monitor_drift_cli_records_evidence(run: Run, tmp_path: Path) -> None:
    rp, cp = _tables(tmp_path, shift=8)
    rc, out, err = run("monitor", "drift", str(rp), str(cp), "--confidence", "score",
                       "--format", "json")  # fmt: skip
    assert rc == 1, err
    rep = json.loads(out)
    assert rep["verdict"] == "warn" and rep["drifted"] == ["income"]
    assert rep["reference"]["format"] == "parquet" and rep["current"]["format"] == "csv"
    rc, out, _ = run("evidence", "show", rep["evidence"], "--format", "json")
    assert rc == 0 and json.loads(out)["check_id"] == "monitor.drift"
    rc, out, _ = run("ledger", "verify")
    assert rc == 0
    page = tmp_path / "drift.html"
    rc, _, _ = run("monitor", "drift", str(rp), str(cp), "--html", str(page))
    assert rc == 1
    doc = page.read_text()
    assert "<svg" in doc and "PSI per column" in doc and "income" in doc
    assert "<script" not in doc and "default-src 'none'" in doc
    rp2, cp2 = _tables(tmp_path, shift=0)
    rc, out, _ = run("monitor", "drift", str(rp2), str(cp2))
    assert rc == 0 and "pass" in out


def test_monitor_drift_cli_bad_table(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    rp, _ = _tables(tmp_path, 0)
    rc, _, err = run("monitor", "drift", str(rp), str(tmp_path / "missing.csv"))
    assert rc == 1 and "missing.csv" in err and "Traceback" not in err
    rc, _, err = run("monitor", "drift", str(rp), str(bad))
    assert rc == 1 and "bad.csv" in err and "garbage" not in err


def _log(path: Path) -> None:
    lines = [
        json.dumps(ApiActivity(actor=Actor("alice"), operation="predict", uid="e1").to_ocsf()),
        "{not json",
        json.dumps({"no": "class"}),
        json.dumps(
            DetectionFinding(
                "probe", "d1", severity=Severity.HIGH, techniques=("AML.T0040",)
            ).to_ocsf()
        ),
    ]
    path.write_text("\n".join(lines) + "\n")


def test_monitor_tail_formats_and_reports_bad_lines(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    _log(log)
    rc, out, err = run("monitor", "tail", str(log), "--as", "cef")
    assert rc == 2  # bad lines are reported, not dropped silently
    assert "line 2: not valid JSON" in err and "line 3:" in err
    lines = out.splitlines()
    assert len(lines) == 2 and all(x.startswith("CEF:0|Bastion|") for x in lines)
    rc, out, _ = run("monitor", "tail", str(log), "-n", "1", "--as", "ecs")
    assert json.loads(out)["event"]["kind"] == "alert"
    rc, out, _ = run("monitor", "tail", str(log), "--as", "syslog")
    assert out.startswith("<110>1 ")


class _Collector:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.got.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a: object) -> None:
                return None

        self.h = H
        self.port = 0
        self.srv: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), self.h)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.srv is not None
        self.srv.shutdown()
        self.srv.server_close()
        self.srv = None


@pytest.fixture
def collector() -> Iterator[_Collector]:
    c = _Collector()
    c.start()
    yield c
    if c.srv is not None:
        c.stop()


def test_monitor_emit_spools_while_the_sink_is_down(
    run: Run, tmp_path: Path, collector: _Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "ev.jsonl"
    events.write_text(
        "".join(
            json.dumps(ApiActivity(actor=Actor("a"), operation="predict", uid=f"u{i}").to_ocsf())
            + "\n"
            for i in range(10)
        )
    )
    monkeypatch.setenv("HEC_TOKEN", "s3cret")
    url = f"http://127.0.0.1:{collector.port}/services/collector/event"
    args = ["monitor", "emit", str(events), "--sink", "http", "--target", url,
            "--token-env", "HEC_TOKEN", "--spool", str(tmp_path / "spool"), "--format", "json"]  # fmt: skip
    collector.stop()
    rc, out, _ = run(*args)
    assert rc == 1 and json.loads(out) == {"delivered": 0, "spooled": 10, "bad_lines": 0}
    collector.start()
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    args[2] = str(empty)
    rc, out, _ = run(*args)
    assert rc == 0 and json.loads(out)["delivered"] == 10
    uids = [json.loads(x)["event"]["metadata"]["uid"] for b in collector.got
            for x in b.decode().splitlines()]  # fmt: skip
    assert uids == [f"u{i}" for i in range(10)]


def test_monitor_emit_to_a_file_and_without_spool_fails_closed(run: Run, tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    _log(events)
    out_file = tmp_path / "out.jsonl"
    rc, _out, err = run("monitor", "emit", str(events), "--sink", "file", "--target", str(out_file))
    assert rc == 2 and "line 2" in err and len(out_file.read_text().splitlines()) == 2
    rc, _, err = run("monitor", "emit", str(events), "--sink", "syslog",
                     "--target", "tcp://127.0.0.1:1")  # fmt: skip
    assert rc == 3 and "syslog-tcp" in err
