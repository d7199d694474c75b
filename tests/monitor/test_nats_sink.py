"""The NATS sink against a real nats-server (with JetStream), started and stopped by the
test: core publish with flush, JetStream acknowledgements, and nothing lost through the
spool while the server is down."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from bastion.core.errors import InputError
from bastion.monitor import Actor, ApiActivity, SinkError, SpooledSink, open_sink
from bastion.monitor.sinks import NatsSink

SERVER = shutil.which("nats-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, store: Path) -> None:
        if SERVER is None:
            pytest.fail("nats-server is required for this test (Debian package nats-server)")
        self.port, self.store = _free_port(), store
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "js")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        ApiActivity(Actor(f"p{i}"), operation="predict", uid=f"u-{i}", time_ms=1000 + i).to_ocsf()
        for i in range(start, start + n)
    ]


async def _stream(url: str, subject: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(name="OCSF", subjects=[subject])
    await nc.close()


async def _read_stream(url: str, subject: str) -> list[str]:
    nc = await nats.connect(url)
    sub = await nc.jetstream().pull_subscribe(subject, durable="t")
    uids: list[str] = []
    try:
        while True:
            msgs = await sub.fetch(100, timeout=1)
            for m in msgs:
                uids.append(json.loads(m.data)["metadata"]["uid"])
                await m.ack()
    except nats.errors.TimeoutError:
        pass
    await nc.close()
    return uids


def test_core_publish_reaches_a_subscriber(server: Server) -> None:
    got: list[str] = []

    async def listen(ready: asyncio.Event, done: asyncio.Event) -> None:
        nc = await nats.connect(server.url)

        async def cb(msg: Any) -> None:
            got.append(json.loads(msg.data)["metadata"]["uid"])
            if len(got) == 3:
                done.set()

        await nc.subscribe("bastion.ocsf", cb=cb)
        await nc.flush()
        ready.set()
        await asyncio.wait_for(done.wait(), 10)
        await nc.close()

    async def main() -> None:
        ready, done = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(listen(ready, done))
        await ready.wait()
        sink = open_sink("nats", f"{server.url}#bastion.ocsf")
        await asyncio.to_thread(sink.send, _events(3))
        await asyncio.to_thread(sink.close)
        await task

    asyncio.run(main())
    assert got == ["u-0", "u-1", "u-2"]


def test_jetstream_acknowledged_and_nothing_lost_while_down(server: Server, tmp_path: Path) -> None:
    asyncio.run(_stream(server.url, "bastion.ocsf"))
    opened = open_sink("nats", f"{server.url}#js:bastion.ocsf")
    assert isinstance(opened, NatsSink) and opened.jetstream
    opened.close()
    sink = NatsSink(server.url, subject="bastion.ocsf", jetstream=True, timeout=1.0)
    # one try per failure: while the server is down each emit only appends to the spool
    spooled = SpooledSink(sink, tmp_path / "spool", retry_interval=3600)
    try:
        for e in _events(5):
            spooled.emit(e)
        assert spooled.delivered == 5 and spooled.pending() == 0
        server.stop()  # the sink goes down: events wait on disk
        for e in _events(5, start=5):
            spooled.emit(e)
        assert spooled.pending() == 5
        server.start()  # same store: the stream survives
        for _ in range(50):  # JetStream takes a moment to recover its stream after a restart
            spooled.flush()
            if spooled.pending() == 0:
                break
            time.sleep(0.2)
        assert spooled.pending() == 0 and spooled.delivered == 10
    finally:
        spooled.close()
    uids = asyncio.run(_read_stream(server.url, "bastion.ocsf"))
    assert sorted(set(uids)) == sorted(f"u-{i}" for i in range(10))


def test_jetstream_without_a_stream_is_a_failure(server: Server) -> None:
    sink = NatsSink(server.url, subject="nobody.listens", jetstream=True, timeout=1.0)
    try:
        with pytest.raises(SinkError, match=r"nats:127\.0\.0\.1"):
            sink.send(_events(1))
    finally:
        sink.close()


def test_unreachable_and_bad_configuration() -> None:
    sink = NatsSink(f"nats://127.0.0.1:{_free_port()}", timeout=1.0)
    try:
        with pytest.raises(SinkError, match=r"nats:127\.0\.0\.1"):
            sink.send(_events(1))
    finally:
        sink.close()
    with pytest.raises(InputError, match="credentials"):
        NatsSink("nats://user:pw@127.0.0.1:4222")
    with pytest.raises(InputError, match="wildcards"):
        NatsSink(subject="bastion.>")
    with pytest.raises(InputError, match="expected nats://"):
        NatsSink("http://127.0.0.1:4222")


def test_monitor_emit_to_nats(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests._cli import start

    asyncio.run(_stream(server.url, "ai.gateway"))
    run = start(tmp_path, capsys)
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in _events(4)) + "\n")
    rc, out, err = run("monitor", "emit", str(log), "--sink", "nats",
                       "--target", f"{server.url}#js:ai.gateway", "--format", "json")  # fmt: skip
    assert rc == 0, err
    assert json.loads(out) == {"delivered": 4, "spooled": 0, "bad_lines": 0}
    assert sorted(asyncio.run(_read_stream(server.url, "ai.gateway"))) == [
        f"u-{i}" for i in range(4)
    ]
