"""The event pipeline: OCSF API Activity events per second through Bastion's formatters to
a file sink and to syslog (UDP and TCP, to local receivers this script starts), with the
on-disk spool enabled, side by side with the standard library's ``logging`` writing the
same events (the peer: ``FileHandler`` and ``SysLogHandler``) in the same run; then the
spool: how fast it takes events while the sink is down, and how fast it drains once the
sink is back.

The input: ``--events`` API Activity (6003) inference events (a principal, a client, a
model digest, six hashed input features, an output, a confidence, a latency), built once as
``ApiActivity`` objects. Both sides start from the same objects: Bastion's
``SpooledSink.emit`` renders each to OCSF (and RFC 5424 for syslog) itself; the peer gets
``json.dumps(event.to_ocsf())`` as its log message (compact, sorted keys: one JSON line per
event, like Bastion's file sink).

Sides, per event (``emit`` one at a time, as the guard does per request) and batched
(``emit_many`` of ``--batch``):
- file: ``SpooledSink(FileSink(fsync=False))`` vs ``logging.FileHandler`` (neither fsyncs:
  the like-for-like row); and ``FileSink`` with its default ``fsync=True`` (durable per
  batch, the cost of the guarantee);
- syslog UDP: ``SpooledSink(SyslogSink udp)`` vs ``SysLogHandler(socktype=SOCK_DGRAM)``;
- syslog TCP: ``SpooledSink(SyslogSink tcp)`` (RFC 6587 octet counting) vs
  ``SysLogHandler(socktype=SOCK_STREAM)`` (NUL-terminated). The receivers count what
  arrived (UDP may drop under load: the table says how many arrived).
Spool: the TCP sink's port has no listener: ``emit`` spools (fsync on), then the receiver
starts and ``flush()`` drains; the receiver's count is checked against what was spooled.

    python benchmarks/event_pipeline.py [--events 20000] [--runs 3] [--batch 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import median_of, print_table, rate, write_results

from bastion.monitor import (
    Actor,
    ApiActivity,
    FileSink,
    Inference,
    InputMode,
    InputPolicy,
    ModelRef,
    SpooledSink,
    SyslogSink,
    to_json,
    to_syslog,
)

DIGEST = "sha256:" + "ab" * 32


def make_events(n: int) -> list[ApiActivity]:
    policy = InputPolicy(InputMode.HASH, key=b"bench-input-hash-key-32-bytes!!!")  # a fixed key
    out = []
    for i in range(n):
        inf = Inference(
            model=ModelRef("fraud-scorer", version="3", digest=DIGEST),
            inputs={f"f{k}": (i * 7 + k) % 101 / 10 for k in range(6)},
            output="deny" if i % 5 == 0 else "approve",
            confidence=(i % 97) / 97,
            latency_ms=3.0 + i % 11,
        )
        out.append(
            ApiActivity(
                actor=Actor(f"partner-{i % 13}", token_id=f"tok-{i % 13}",
                            client_ip=f"10.0.{i % 7}.{i % 200 + 1}"),
                operation="predict", inference=inf, policy=policy,
                time_ms=1_780_000_000_000 + i, uid=f"evt-{i}",
            )
        )  # fmt: skip
    return out


class Receiver:
    """A local syslog receiver counting messages: UDP datagrams, TCP octet-counted frames
    (RFC 6587) or NUL-terminated messages (what ``SysLogHandler`` sends over TCP)."""

    def __init__(self, transport: str, framing: str = "octet", port: int = 0) -> None:
        self.transport, self.framing = transport, framing
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if transport == "udp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self._stop = False
        self.sock.settimeout(0.2)
        if transport == "tcp":
            self.sock.listen(8)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.transport == "udp":
            while not self._stop:
                try:
                    self.sock.recv(65536)
                    self.count += 1
                except TimeoutError:
                    continue
            return
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(0.2)
        while not self._stop:
            try:
                chunk = conn.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if self.framing == "nul":
                n = buf.count(b"\0")
                self.count += n
                buf = buf[buf.rfind(b"\0") + 1 :] if n else buf
                continue
            while True:  # octet counting: "LEN SP MSG"
                sp = buf.find(b" ")
                if sp < 0:
                    break
                size = int(buf[:sp])
                if len(buf) < sp + 1 + size:
                    break
                buf = buf[sp + 1 + size :]
                self.count += 1
        conn.close()

    def wait_for(self, n: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def _peer_logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"bench.peer.{id(handler)}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return log


def _peer_line(e: ApiActivity) -> str:
    return json.dumps(e.to_ocsf(), separators=(",", ":"), sort_keys=True)


def bastion_run(
    events: list[ApiActivity], make_sink: Callable[[], Any], spool: Path, batch: int
) -> Callable[[], None]:
    def go() -> None:
        for p in spool.glob("*"):
            if p.is_file():
                p.unlink()
        with SpooledSink(make_sink(), spool) as s:
            if batch <= 1:
                for e in events:
                    s.emit(e)
            else:
                for i in range(0, len(events), batch):
                    s.emit_many(events[i : i + batch])
            assert s.pending() == 0, s.last_error

    return go


def peer_run(
    events: list[ApiActivity], make_handler: Callable[[], logging.Handler]
) -> Callable[[], None]:
    def go() -> None:
        h = make_handler()
        log = _peer_logger(h)
        for e in events:
            log.info(_peer_line(e))
        h.close()

    return go


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    n = args.events
    events = make_events(n)
    rows: list[list[object]] = []
    results: dict[str, Any] = {"events": n, "runs": args.runs, "batch": args.batch, "rows": []}
    tmp = Path(tempfile.mkdtemp(prefix="bastion-bench-pipeline-"))
    spool = tmp / "spool"

    def add(target: str, side: str, fn: Callable[[], None], received: Callable[[], int]) -> None:
        med, samples, _ = median_of(args.runs, fn)
        got = received()
        rows.append([target, side, f"{rate(n, med):,.0f}", f"{med:.3f}", got])
        results["rows"].append({"target": target, "side": side, "events_per_s": rate(n, med),
                                "median_s": med, "samples": samples, "received": got})  # fmt: skip
        print(f"  {target:<10} {side:<44} {rate(n, med):>10,.0f} ev/s", flush=True)

    def lines(p: Path) -> Callable[[], int]:
        def count() -> int:
            with p.open("rb") as f:
                c = sum(1 for _ in f)
            p.unlink()
            return c // int(args.runs)  # the file holds every run's lines

        return count

    # -- the floor: rendering alone (what every row below pays per event) ---------------
    def render() -> None:
        for e in events:
            to_json(e.to_ocsf())

    def render_syslog() -> None:
        for e in events:
            to_syslog(e.to_ocsf())

    add("render", "ApiActivity.to_ocsf + to_json (no sink)", render, lambda: n)
    add("render", "ApiActivity.to_ocsf + to_syslog (no sink)", render_syslog, lambda: n)

    def render_peer() -> None:
        for e in events:
            _peer_line(e)

    add("render", "peer: to_ocsf + json.dumps (no handler)", render_peer, lambda: n)

    # -- file -------------------------------------------------------------------------
    f = tmp / "events.jsonl"
    for batch, label in ((1, "per event"), (args.batch, f"batch {args.batch}")):
        add("file", f"bastion spool+FileSink fsync=off, {label}",
            bastion_run(events, partial(FileSink, f, max_bytes=1 << 40, fsync=False), spool, batch),
            lines(f))  # fmt: skip
        add("file", f"bastion spool+FileSink fsync=on, {label}",
            bastion_run(events, partial(FileSink, f, max_bytes=1 << 40), spool, batch),
            lines(f))  # fmt: skip
    add("file", "peer logging.FileHandler", peer_run(events, partial(logging.FileHandler, f)),
        lines(f))  # fmt: skip

    # -- syslog -----------------------------------------------------------------------
    def arrived(rc: Receiver, before: int) -> int:
        runs = int(args.runs)
        return (rc.wait_for(before + n * runs, 10) - before) // runs

    for transport in ("udp", "tcp"):
        r = Receiver(transport, "octet")
        for batch, label in ((1, "per event"), (args.batch, f"batch {args.batch}")):
            make = partial(SyslogSink, "127.0.0.1", r.port, transport=transport)
            add(f"syslog-{transport}", f"bastion spool+SyslogSink, {label}",
                bastion_run(events, make, spool, batch), partial(arrived, r, r.count))  # fmt: skip
        r.close()
        pr = Receiver(transport, "nul" if transport == "tcp" else "octet")
        st = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        handler = partial(logging.handlers.SysLogHandler, ("127.0.0.1", pr.port), socktype=st)
        add(f"syslog-{transport}", "peer logging.SysLogHandler",
            peer_run(events, handler), partial(arrived, pr, 0))  # fmt: skip
        pr.close()

    # -- spool: sink down, then back ----------------------------------------------------
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for p in spool.glob("*"):
        if p.is_file():
            p.unlink()
    sink = SpooledSink(SyslogSink("127.0.0.1", port, transport="tcp", timeout=1.0), spool,
                       retry_interval=3600.0, max_bytes=1 << 32)  # fmt: skip
    t0 = time.perf_counter()
    for e in events:
        sink.emit(e)
    down = time.perf_counter() - t0
    spooled = sink.pending()
    back = Receiver("tcp", "octet", port=port)
    t0 = time.perf_counter()
    drained = sink.flush()
    landed = back.wait_for(spooled, 30)
    drain = time.perf_counter() - t0
    sink.close()
    back.close()
    rows.append(["spool", "emit while the TCP sink is down (fsync on)", f"{rate(n, down):,.0f}",
                 f"{down:.3f}", spooled])  # fmt: skip
    rows.append(["spool", "drain once the sink is back", f"{rate(drained, drain):,.0f}",
                 f"{drain:.3f}", landed])  # fmt: skip
    results["spool"] = {"spooled": spooled, "spool_s": down, "drained": drained,
                        "drain_s": drain, "received": landed}  # fmt: skip
    print()
    print_table(["target", "side", "events/s", "median s", "received"], rows)
    out = write_results("event_pipeline", results)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
