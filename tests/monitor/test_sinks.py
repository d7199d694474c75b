"""Sinks against real local servers, and the spool's at-least-once delivery."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion.core.errors import InputError
from bastion.monitor import (
    Actor,
    ApiActivity,
    FileSink,
    HttpSink,
    RedisStreamSink,
    SinkError,
    SpooledSink,
    SpoolFullError,
    SyslogSink,
)


def _ev(i: int) -> dict[str, Any]:
    return ApiActivity(
        actor=Actor(f"user{i}"), operation="predict", uid=f"ev-{i}", time_ms=1_700_000_000_000 + i
    ).to_ocsf()


class Collector:
    """A small HTTP collector on 127.0.0.1 that can be stopped and restarted on its port."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.reply: bytes = b'{"text":"Success","code":0}'
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.bodies.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.reply)))
                self.end_headers()
                self.wfile.write(outer.reply)

            def log_message(self, *a: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    def events(self) -> list[dict[str, Any]]:
        out = []
        for path, _h, body in self.bodies:
            if path.endswith("/_bulk"):
                lines = body.decode().splitlines()
                out += [json.loads(x) for x in lines[1::2]]
            else:
                for line in body.decode().splitlines():
                    d = json.loads(line)
                    out.append(d.get("event", d))
        return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    if c.server is not None:
        c.stop()


def test_http_splunk_hec_sends_events_with_the_token(collector: Collector) -> None:
    sink = HttpSink(
        f"http://127.0.0.1:{collector.port}/services/collector/event", token="hec-secret"
    )
    sink.send([_ev(1), _ev(2)])
    sink.close()
    path, headers, body = collector.bodies[0]
    assert path == "/services/collector/event"
    assert headers["Authorization"] == "Splunk hec-secret"
    first = json.loads(body.decode().splitlines()[0])
    assert first["sourcetype"] == "ocsf" and first["event"]["metadata"]["uid"] == "ev-1"
    assert first["time"] == pytest.approx(1_700_000_000.001)


def test_http_elastic_bulk_errors_are_failures(collector: Collector) -> None:
    sink = HttpSink(f"http://127.0.0.1:{collector.port}/_bulk", style="elastic_bulk")
    collector.reply = b'{"errors": false, "items": []}'
    sink.send([_ev(1)])
    action = json.loads(collector.bodies[0][2].decode().splitlines()[0])
    assert action == {"create": {"_index": "bastion-ocsf", "_id": "ev-1"}}
    # a re-send after a lost reply: the already indexed event answers 409, which is success
    collector.reply = json.dumps({"errors": True, "items": [
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        {"create": {"status": 201}},
    ]}).encode()  # fmt: skip
    sink.send([_ev(1), _ev(4)])
    collector.reply = json.dumps({"errors": True, "items": [{"create": {"status": 429}}]}).encode()
    with pytest.raises(SinkError, match="errors"):
        sink.send([_ev(5)])
    collector.reply = b'{"errors": true, "items": []}'
    with pytest.raises(SinkError, match="errors"):
        sink.send([_ev(2)])
    collector.status = 500
    with pytest.raises(SinkError, match="HTTP 500"):
        sink.send([_ev(3)])
    sink.close()


def test_http_sink_refuses_plain_http_off_loopback_and_credentials_in_url() -> None:
    with pytest.raises(InputError, match="loopback"):
        HttpSink("http://siem.example.com/services/collector")
    with pytest.raises(InputError, match="credentials"):
        HttpSink("https://user:pw@siem.example.com/x")
    with pytest.raises(InputError, match="style"):
        HttpSink("https://siem.example.com/x", style="soap")


def test_http_sink_error_never_echoes_the_token(collector: Collector) -> None:
    collector.status = 403
    sink = HttpSink(f"http://127.0.0.1:{collector.port}/x", token="tok-very-secret")
    with pytest.raises(SinkError) as exc:
        sink.send([_ev(1)])
    assert "tok-very-secret" not in str(exc.value)
    sink.close()


def test_spool_sink_down_then_back_nothing_lost(collector: Collector, tmp_path: Path) -> None:
    """Stop the collector, emit, restart: every event arrives once the sink is back."""
    t = [0.0]
    sink = HttpSink(f"http://127.0.0.1:{collector.port}/services/collector/event", timeout=1)
    spool = SpooledSink(
        sink, tmp_path / "spool", segment_events=7, retry_interval=5, clock=lambda: t[0]
    )
    for i in range(5):
        spool.emit(_ev(i))
    assert spool.pending() == 0
    collector.stop()
    for i in range(5, 45):
        spool.emit(_ev(i))
    assert spool.pending() == 40 and spool.last_error
    assert len(list((tmp_path / "spool").glob("seg-*.jsonl"))) == 6  # 40 events, 7 per segment
    collector.start()
    spool.emit(_ev(45))  # within the retry interval: spooled, not sent
    assert spool.pending() == 41
    t[0] = 10.0
    spool.emit(_ev(46))  # the retry: the spool drains first, oldest first
    assert spool.pending() == 0
    uids = [e["metadata"]["uid"] for e in collector.events()]
    assert uids == [f"ev-{i}" for i in range(47)]
    assert not list((tmp_path / "spool").glob("seg-*.jsonl"))
    spool.close()


def test_spool_survives_a_restart_of_the_process(collector: Collector, tmp_path: Path) -> None:
    collector.stop()
    url = f"http://127.0.0.1:{collector.port}/x"
    spool = SpooledSink(HttpSink(url, timeout=1), tmp_path / "s")
    spool.emit_many([_ev(i) for i in range(3)])
    spool.close()
    collector.start()
    again = SpooledSink(HttpSink(url), tmp_path / "s")
    assert again.pending() == 3
    assert again.flush() == 3
    assert [e["metadata"]["uid"] for e in collector.events()] == ["ev-0", "ev-1", "ev-2"]
    again.close()


def test_spool_full_is_back_pressure_never_unbounded(collector: Collector, tmp_path: Path) -> None:
    collector.stop()
    spool = SpooledSink(
        HttpSink(f"http://127.0.0.1:{collector.port}/x", timeout=1),
        tmp_path / "spool", max_bytes=8192, retry_interval=3600,
    )  # fmt: skip
    accepted = 0
    refusal = None
    for i in range(1000):
        try:
            spool.emit(_ev(i))
        except SpoolFullError as exc:
            refusal = exc
            break
        accepted += 1
    assert refusal is not None and "full" in str(refusal)
    size = sum(p.stat().st_size for p in (tmp_path / "spool").glob("seg-*"))
    assert size <= 8192 and spool.pending() == accepted and 0 < accepted < 1000
    with pytest.raises(SpoolFullError):
        spool.emit(_ev(9999))
    assert spool.pending() == accepted  # the refused event was not half-accepted
    collector.start()
    assert spool.flush() == accepted
    assert len(collector.events()) == accepted
    spool.close()


def test_spool_directory_is_held_by_one_process(tmp_path: Path) -> None:
    a = SpooledSink(FileSink(tmp_path / "a.jsonl"), tmp_path / "spool")
    with pytest.raises(SinkError, match="in use"):
        SpooledSink(FileSink(tmp_path / "b.jsonl"), tmp_path / "spool")
    a.close()


def test_torn_spool_line_is_rejected_and_reported(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    good = json.dumps(_ev(1))
    (spool_dir / "seg-000000000000.jsonl").write_text(good + "\n" + '{"class_uid": 60')
    spool = SpooledSink(FileSink(tmp_path / "out.jsonl"), spool_dir)
    assert spool.pending() == 2
    assert spool.flush() == 1
    assert spool.rejected == 1 and spool.pending() == 0
    assert (spool_dir / "rejected" / "seg-000000000000.jsonl").read_text().startswith('{"class')
    spool.close()


def test_file_sink_json_lines_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "log" / "events.jsonl"
    sink = FileSink(path, max_bytes=2048, backups=2)
    for i in range(30):
        sink.send([_ev(i)])
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert all(p.stat().st_size <= 2048 for p in path.parent.iterdir())
    assert (path.stat().st_mode & 0o777) == 0o600
    last = [json.loads(x) for x in path.read_text().splitlines()]
    assert last[-1]["metadata"]["uid"] == "ev-29"


def test_syslog_udp_and_tcp_to_local_receivers() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    s = SyslogSink("127.0.0.1", udp.getsockname()[1], transport="udp", hostname="gw")
    s.send([_ev(1)])
    data = udp.recv(65535).decode()
    assert data.startswith("<110>1 ") and '"uid":"ev-1"' in data
    s.close()
    udp.close()

    got: list[bytes] = []

    class H(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            got.append(self.rfile.read())

    srv = socketserver.TCPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.handle_request, daemon=True)
    th.start()
    t = SyslogSink("127.0.0.1", srv.server_address[1], transport="tcp", hostname="gw")
    t.send([_ev(1), _ev(2)])
    t.close()
    th.join(10)
    srv.server_close()
    raw = got[0]
    # RFC 6587 octet counting: "LEN SP MSG" repeated
    n, _, rest = raw.partition(b" ")
    first, rest = rest[: int(n)], rest[int(n) :]
    assert b'"uid":"ev-1"' in first and b'"uid":"ev-2"' in rest


def test_syslog_udp_oversized_message_is_refused_not_truncated() -> None:
    s = SyslogSink("127.0.0.1", 9, transport="udp", max_datagram=300)
    with pytest.raises(InputError, match="datagram"):
        s.send([_ev(1)])


def test_syslog_down_is_a_sink_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    with pytest.raises(SinkError, match="syslog-tcp"):
        SyslogSink("127.0.0.1", port, transport="tcp", timeout=1).send([_ev(1)])


@pytest.mark.redis
def test_redis_stream_sink() -> None:
    import redis

    stream = f"test:monitor:{uuid.uuid4().hex}"
    sink = RedisStreamSink("redis://127.0.0.1:6379/15", stream=stream)
    try:
        sink.send([_ev(1), _ev(2)])
        r = redis.Redis.from_url("redis://127.0.0.1:6379/15")
        entries = r.xrange(stream)
        assert [json.loads(f[b"event"])["metadata"]["uid"] for _id, f in entries] == [
            "ev-1",
            "ev-2",
        ]
        r.delete(stream)
        r.close()
    finally:
        sink.close()


@pytest.mark.redis
def test_redis_down_spools(tmp_path: Path) -> None:
    sink = RedisStreamSink("redis://127.0.0.1:1/15", stream="x", timeout=0.5)
    spool = SpooledSink(sink, tmp_path / "spool")
    spool.emit(_ev(1))
    assert spool.pending() == 1 and "redis" in (spool.last_error or "")
    spool.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _tls_server(cert: Path, key: Path) -> tuple[socket.socket, list[bytes], threading.Thread]:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = lsock.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                buf = b""
                while chunk := tls.recv(65536):
                    buf += chunk
                got.append(buf)
        except (ssl.SSLError, OSError):
            got.append(b"")

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return lsock, got, th


def test_syslog_tls_verifies_the_server(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    lsock, got, th = _tls_server(cert, key)
    port = lsock.getsockname()[1]
    s = SyslogSink("localhost", port, transport="tls", cafile=cert, hostname="gw")
    s.send([_ev(1)])
    s.close()
    th.join(10)
    lsock.close()
    n, _, msg = got[0].partition(b" ")
    assert int(n) == len(msg) and b'"uid":"ev-1"' in msg

    # without the CA the same server is refused: verification cannot be skipped
    lsock, got, th = _tls_server(cert, key)
    port = lsock.getsockname()[1]
    with pytest.raises(SinkError, match="syslog-tls"):
        SyslogSink("localhost", port, transport="tls", timeout=2).send([_ev(2)])
    th.join(10)
    lsock.close()
    assert got == [b""]


def test_syslog_tcp_reconnects_when_the_receiver_closed_the_connection() -> None:
    """TCP syslog has no acknowledgement: a batch written into a connection the receiver
    had closed was accepted by the kernel and lost. The sink now checks the connection
    before each batch and reconnects."""
    lsock = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = lsock.accept()
            with conn:
                conn.settimeout(5)
                buf = conn.recv(65536)
                got.append(buf)
            # the first connection is closed by the receiver after one batch

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    s = SyslogSink("127.0.0.1", lsock.getsockname()[1], transport="tcp", hostname="gw")
    s.send([_ev(1)])
    for _ in range(100):  # until the receiver has read and closed
        if got:
            break
        threading.Event().wait(0.02)
    threading.Event().wait(0.1)
    s.send([_ev(2)])
    th.join(10)
    s.close()
    lsock.close()
    assert len(got) == 2 and b'"uid":"ev-1"' in got[0] and b'"uid":"ev-2"' in got[1]


def test_spooled_sink_is_a_sink(tmp_path: Path) -> None:
    from bastion.monitor import Sink

    spool = SpooledSink(FileSink(tmp_path / "out.jsonl"), tmp_path / "spool")
    assert isinstance(spool, Sink) and spool.name == "spooled:file:out.jsonl"
    spool.send([_ev(1), _ev(2)])
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    spool.close()


def test_open_sink_builds_each_kind_from_its_configured_form(tmp_path: Path) -> None:
    """The room reads a sink's configured form (the CLI and later the guard use it)."""
    from bastion.core.errors import InputError
    from bastion.monitor import FileSink, HttpSink, SyslogSink, open_sink

    assert isinstance(open_sink("file", str(tmp_path / "a.jsonl")), FileSink)
    assert isinstance(open_sink("http", "http://127.0.0.1:9/collector"), HttpSink)
    syslog = open_sink("syslog", "udp://[::1]:514")
    assert isinstance(syslog, SyslogSink)
    for kind, target in [("syslog", "127.0.0.1:514"), ("syslog", "tcp://host"), ("ftp", "x")]:
        with pytest.raises(InputError):
            open_sink(kind, target)
