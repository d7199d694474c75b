"""Detections over the event stream (issue 12, section 3): each rule fires on a crafted
stream and stays quiet on the benign one next to it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.monitor import (
    Actor,
    ApiActivity,
    Authentication,
    DetectionConfig,
    DetectionEngine,
    DetectionFinding,
    DetectionKind,
    Inference,
    InputPolicy,
    ModelRef,
    Severity,
    WorkingHours,
    detect_events,
    load_detection_config,
)
from bastion.monitor.interface import InputMode

T0 = int(datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp() * 1000)  # a Wednesday
RAW = InputPolicy(InputMode.RAW)


def call(
    who: str,
    t: int,
    *,
    ok: bool = True,
    op: str = "predict",
    ip: str = "10.0.0.1",
    model: str = "credit-gbm",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ev = ApiActivity(
        Actor(who, client_ip=ip),
        operation=op,
        ok=ok,
        status_detail=None if ok else "denied",
        inference=Inference(ModelRef(model), {"x": 1.0}),
        policy=RAW,
        time_ms=t,
    ).to_ocsf()
    ev.update(extra or {})
    return ev


def guard_finding(who: str, t: int, technique: str, analytic: str) -> dict[str, Any]:
    return DetectionFinding(
        title=f"guard: {analytic}",
        finding_uid=f"guard:{who}:{t}",
        severity=Severity.HIGH,
        techniques=(technique,),
        analytic=analytic,
        actor=Actor(who, client_ip="10.9.9.9"),
        model=ModelRef("credit-gbm"),
        time_ms=t,
    ).to_ocsf()


def kinds(found: list[Any]) -> list[str]:
    return [d.kind.value for d in found]


def test_guard_extraction_and_probing_become_detections_once_per_window() -> None:
    eng = DetectionEngine()
    stream = [guard_finding("mallory", T0 + i * 1000, "AML.T0024.002", "guard.extraction")
              for i in range(5)]  # fmt: skip
    stream.append(guard_finding("mallory", T0 + 6000, "AML.T0040", "guard.probing"))
    stream.append(guard_finding("mallory", T0 + 400_000, "AML.T0024.002", "guard.extraction"))
    found = eng.run(stream)
    assert kinds(found) == ["extraction", "probing", "extraction"]
    d = found[0]
    assert d.principal == "mallory" and d.techniques == ("AML.T0024.002",)
    ocsf = d.to_ocsf()
    assert ocsf["class_uid"] == 2004 and ocsf["type_uid"] == 200401
    assert ocsf["finding_info"]["attacks"][0]["technique"]["uid"] == "AML.T0024.002"
    assert ocsf["finding_info"]["analytic"]["name"] == "bastion.detect.extraction"
    assert ocsf["ai"]["evidence"]["events"] == [stream[0]["metadata"]["uid"]]
    # our own findings are not fed back into the rules
    assert eng.run([ocsf]) == []


def test_denial_burst_sliding_window_per_principal() -> None:
    cfg = DetectionConfig(denial_threshold=5, denial_window_seconds=60)
    eng = DetectionEngine(cfg, only=["denial-burst"])
    # four denials a minute apart for alice: never five in one window
    slow = [call("alice", T0 + i * 61_000, ok=False) for i in range(8)]
    assert eng.run(slow) == []
    # eve: five within 10 s -> one detection, the sixth adds none
    burst = [call("eve", T0 + i * 2000, ok=False) for i in range(6)]
    found = eng.run(burst)
    assert kinds(found) == ["denial_burst"]
    assert found[0].principal == "eve" and found[0].details["denials"] == 5
    assert len(found[0].events) == 5
    # after the window empties, a new burst raises again
    again = [call("eve", T0 + 200_000 + i * 1000, ok=False) for i in range(5)]
    assert kinds(eng.run(again)) == ["denial_burst"]
    # successes never count
    assert eng.run([call("bob", T0 + i, ok=True) for i in range(20)]) == []


def test_denied_authentication_counts_too() -> None:
    eng = DetectionEngine(DetectionConfig(denial_threshold=3), only=["denial-burst"])
    evs = [Authentication(Actor("svc"), ok=False, time_ms=T0 + i).to_ocsf() for i in range(3)]
    assert kinds(eng.run(evs)) == ["denial_burst"]


def test_weight_export_new_principal_and_volume_over_baseline() -> None:
    day = 86_400_000
    cfg = DetectionConfig(known_exporters=("release-bot",), export_min_bytes=1000)
    eng = DetectionEngine(cfg, only=["weight-export"])
    mb = 1 << 20

    def export(who: str, t: int, n: int) -> dict[str, Any]:
        return call(who, t, op="export_model", extra={"traffic": {"bytes_out": n}})

    # the release bot exports ~1 MiB a day for five days: its baseline, no detection
    quiet = [export("release-bot", T0 + d * day, mb) for d in range(5)]
    assert eng.run(quiet) == []
    # day 6: 10 MiB -> volume detection
    found = eng.run([export("release-bot", T0 + 5 * day, 10 * mb)])
    assert kinds(found) == ["weight_export"] and found[0].details["reason"] == "volume"
    assert found[0].details["baseline"] == pytest.approx(mb)
    # a principal never seen exporting: detection on its first export
    found = eng.run([export("intern", T0 + 5 * day, 100)])
    assert [d.details["reason"] for d in found] == ["new_exporter"]
    assert found[0].techniques == ("AML.T0025", "AML.T0024.002")
    # predictions are not exports; a refused export is a denial, not an export
    assert eng.run([call("x", T0), call("y", T0, op="export", ok=False)]) == []


def test_off_hours_per_principal_and_time_zone() -> None:
    cfg = load_detection_config(
        """
working_hours:
  alice: {timezone: Europe/Paris, start: "08:00", end: "18:00"}
  night: {timezone: UTC, days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", end: "06:00"}
"""
    )
    eng = DetectionEngine(cfg, only=["off-hours"])
    assert eng.run([call("alice", T0)]) == []  # 11:00 Paris on a Wednesday
    late = T0 + 9 * 3_600_000  # 20:00 Paris
    found = eng.run([call("alice", late), call("alice", late + 60_000)])
    assert kinds(found) == ["off_hours"]  # once per hour
    assert "Europe/Paris" in found[0].title and "20:00" in found[0].title
    saturday = T0 + 3 * 86_400_000
    assert kinds(eng.run([call("alice", saturday)])) == ["off_hours"]
    # a night shift spanning midnight: 23:00 and 03:00 are inside, 10:00 is not
    assert eng.run([call("night", T0 + 13 * 3_600_000), call("night", T0 + 17 * 3_600_000)]) == []
    assert kinds(eng.run([call("night", T0)])) == ["off_hours"]
    # no hours configured for bob and no default: no rule
    assert eng.run([call("bob", late)]) == []


def test_drift_together_with_new_client() -> None:
    cfg = DetectionConfig(baseline_seconds=3600, new_client_window_seconds=1800)
    eng = DetectionEngine(cfg, only=["drift-new-client"])
    base = [call("app", T0 + i * 60_000, ip="10.0.0.1") for i in range(60)]
    assert eng.run(base) == []
    # a new client starts calling the model, then drift is raised on it
    newc = [call("tenant-x", T0 + 3_700_000 + i * 1000, ip="203.0.113.7") for i in range(50)]
    assert eng.run(newc) == []
    drift = DetectionFinding(
        title="drift on income",
        finding_uid="drift:credit-gbm:income",
        model=ModelRef("credit-gbm"),
        time_ms=T0 + 3_800_000,
    ).to_ocsf()
    found = eng.run([drift])
    assert kinds(found) == ["drift_new_client"]
    assert found[0].details["new_clients"] == ["203.0.113.7"] and found[0].model == "credit-gbm"
    # drift on another model, or with only baseline clients, raises nothing
    other = DetectionFinding(title="d", finding_uid="drift:other:income", time_ms=T0 + 3_900_000)
    assert eng.run([other.to_ocsf()]) == []


def test_detect_events_ledgers_every_detection(sqlite_ws: Workspace) -> None:
    before = sqlite_ws.ledger.size()
    stream = [call("eve", T0 + i * 1000, ok=False) for i in range(5)]
    found = detect_events(sqlite_ws, stream, actor="tester", source="events.jsonl")
    assert kinds(found) == ["denial_burst"]
    entries = sqlite_ws.ledger.entries(start=before)
    (entry,) = [e for e in entries if e.kind == "monitor.detection"]
    assert entry.data["kind"] == "denial_burst" and entry.data["principal"] == "eve"
    assert entry.data["source"] == "events.jsonl" and entry.actor == "tester"
    assert "x" not in str(entry.data["details"])  # inputs never reach the ledger


def test_bad_configuration_is_refused_with_the_field() -> None:
    with pytest.raises(InputError, match=r"working_hours\.alice\.timezone"):
        load_detection_config("working_hours: {alice: {timezone: Mars/Olympus}}")
    with pytest.raises(InputError, match="denial_threshold"):
        load_detection_config("denial_threshold: 1")
    with pytest.raises(InputError, match="unknown detection rule"):
        DetectionEngine(only=["nope"])
    with pytest.raises(InputError, match="time"):
        DetectionEngine().process({"class_uid": 6003, "status_id": 2})


def test_working_hours_validation() -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        WorkingHours(start="25:00")
    with pytest.raises(ValueError, match="days"):
        WorkingHours(days=("funday",))
    assert DetectionKind("off_hours") is DetectionKind.OFF_HOURS


def test_detecting_sink_sees_accepted_batches_once(sqlite_ws: Workspace, tmp_path: Path) -> None:
    """Events pass through to a real file sink; findings follow them and are ledgered; a
    batch the sink refuses is not seen by the rules until it is accepted."""
    from bastion.monitor import DetectingSink, FileSink, HttpSink, SinkError, ledger_recorder

    out = tmp_path / "out.jsonl"
    sink = DetectingSink(FileSink(out), DetectionConfig(denial_threshold=3),
                         on_detection=ledger_recorder(sqlite_ws, actor="guard"))  # fmt: skip
    sink.send([call("eve", T0 + i, ok=False) for i in range(3)])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["class_uid"] for e in lines] == [6003, 6003, 6003, 2004]
    assert lines[-1]["finding_info"]["analytic"]["name"] == "bastion.detect.denial_burst"
    (entry,) = sqlite_ws.ledger.entries(kind="monitor.detection")
    assert entry.actor == "guard" and entry.data["principal"] == "eve"
    sink.close()

    status = [503]

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        http = DetectingSink(HttpSink(f"http://127.0.0.1:{srv.server_address[1]}/e",
                                      style="ndjson", token="t"), DetectionConfig(denial_threshold=3))  # fmt: skip
        batch = [call("eve", T0 + i, ok=False) for i in range(3)]
        with pytest.raises(SinkError):
            http.send(batch)
        assert http.detections == 0  # refused: not seen
        status[0] = 200
        http.send(batch)  # the retry
        assert http.detections == 1 and not http.pending
        http.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_hostile_events_are_refused_or_reported_within_the_schema() -> None:
    """Regressions found by the property tests: an infinite time is refused by name, and a
    principal or uid of absurd length still yields a finding that fits the OCSF limits."""
    with pytest.raises(InputError, match="time"):
        DetectionEngine().process({"class_uid": 6003, "time": float("inf")})
    with pytest.raises(InputError, match="epoch time"):
        DetectionEngine().process({"class_uid": 6003, "time": 10**20})
    long = "x" * 5000
    evs = [{"class_uid": 6003, "status_id": 2, "time": T0 + i, "metadata": {"uid": long},
            "actor": {"user": {"name": long}}, "src_endpoint": {"ip": long}} for i in range(5)]  # fmt: skip
    (d,) = DetectionEngine(only=["denial-burst"]).run(evs)
    ocsf = d.to_ocsf()
    assert len(ocsf["actor"]["user"]["name"]) == 1024 and len(ocsf["src_endpoint"]["ip"]) == 64
    assert all(len(u) == 128 for u in ocsf["ai"]["evidence"]["events"])
    assert len(json.dumps(ocsf)) < 64 * 1024
