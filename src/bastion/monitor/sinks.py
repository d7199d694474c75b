"""Sinks (file, syslog, HTTP, Redis stream, NATS subject) and the bounded on-disk spool that gives them
at-least-once delivery.

A sink's ``send`` takes a whole batch or raises :class:`SinkError`. :class:`SpooledSink`
wraps any sink: while the sink takes events they go straight through; when it is down they
are appended (fsynced) to segment files in the spool directory and re-sent, oldest first,
once it answers again. The spool is bounded: when it is full, ``emit`` raises
:class:`SpoolFullError` (back-pressure), never grows further and never drops an accepted
event. An event the sink refuses as malformed (``InputError``) is moved to
``<spool>/rejected/`` and counted, never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import ipaddress
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bastion.core.errors import InputError
from bastion.monitor.formatters import to_json, to_syslog
from bastion.monitor.interface import (
    MAX_EVENT_BYTES,
    ApiActivity,
    Authentication,
    DetectionFinding,
    Sink,
    SinkError,
    SpoolFullError,
)

__all__ = [
    "FileSink",
    "HttpSink",
    "NatsSink",
    "RedisStreamSink",
    "SinkKind",
    "SpooledSink",
    "SyslogSink",
    "as_ocsf",
    "open_sink",
]

_log = logging.getLogger(__name__)


def as_ocsf(
    event: Mapping[str, Any] | ApiActivity | Authentication | DetectionFinding,
) -> dict[str, Any]:
    """An event as its OCSF dict (event objects are rendered, dicts checked)."""
    if isinstance(event, (ApiActivity, Authentication, DetectionFinding)):
        return event.to_ocsf()
    if not isinstance(event, Mapping):
        raise InputError("event: expected an OCSF event object or dict")
    d = dict(event)
    to_json(d)  # refuses what is not an OCSF event
    return d


def _encode(event: Mapping[str, Any]) -> bytes:
    b = to_json(event).encode()
    if len(b) > MAX_EVENT_BYTES:
        raise InputError(f"event: larger than {MAX_EVENT_BYTES} bytes serialized")
    return b


class FileSink:
    """JSON lines (OCSF), appended and fsynced per batch, rotated by size: ``path`` becomes
    ``path.1`` (``.2`` ...) when it would exceed ``max_bytes``; ``backups`` are kept."""

    def __init__(
        self, path: Path, *, max_bytes: int = 64 << 20, backups: int = 5, fsync: bool = True
    ) -> None:
        if max_bytes < 1024 or backups < 0:
            raise InputError("file sink: max_bytes must be at least 1024, backups at least 0")
        self.path = Path(path)
        self.name = f"file:{self.path.name}"
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync

    def _rotate(self) -> None:
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        data = b"".join(_encode(e) + b"\n" for e in events)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size if self.path.exists() else 0
            if size and size + len(data) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SinkError(f"{self.name}: cannot write ({exc.strerror})") from None

    def close(self) -> None:
        return None


class SyslogSink:
    """RFC 5424 messages over UDP (RFC 5426, one datagram each), TCP (RFC 6587 octet
    counting) or TLS (RFC 5425, certificate and host name verified; ``cafile`` names the
    CA to trust instead of the system store)."""

    def __init__(
        self,
        host: str,
        port: int = 514,
        *,
        transport: str = "udp",
        facility: int = 13,
        hostname: str | None = None,
        cafile: Path | None = None,
        timeout: float = 5.0,
        max_datagram: int = 8192,
    ) -> None:
        if transport not in ("udp", "tcp", "tls"):
            raise InputError("syslog transport: expected udp, tcp or tls")
        if not 0 < port < 65536:
            raise InputError("syslog port: must lie in 1-65535")
        self.host, self.port, self.transport = host, port, transport
        self.name = f"syslog-{transport}:{host}:{port}"
        self.facility, self.hostname = facility, hostname
        self.timeout, self.max_datagram = timeout, max_datagram
        self._ctx: ssl.SSLContext | None = None
        if transport == "tls":
            self._ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        self._sock: socket.socket | None = None

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True when the receiver has closed the connection (a syslog receiver never
        writes, so a readable socket means EOF or a reset). TCP syslog has no
        acknowledgements: writing into a connection the peer already closed would be
        accepted by the kernel and lost, so it is checked before every batch."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            sock.setblocking(False)
            try:
                return sock.recv(4096) == b""
            finally:
                sock.setblocking(True)
                sock.settimeout(self.timeout)
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except (OSError, ssl.SSLError):
            return True

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            if self.transport == "udp" or not self._peer_closed(self._sock):
                return self._sock
            self.close()
        if self.transport == "udp":
            self._sock = socket.socket(
                socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM
            )
            return self._sock
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self._ctx is not None:
            try:
                raw = self._ctx.wrap_socket(raw, server_hostname=self.host)
            except (ssl.SSLError, OSError):
                raw.close()
                raise
        self._sock = raw
        return raw

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        msgs = [
            to_syslog(e, facility=self.facility, hostname=self.hostname).encode() for e in events
        ]
        if self.transport == "udp":
            for m in msgs:
                if len(m) > self.max_datagram:
                    raise InputError(
                        f"{self.name}: a {len(m)}-byte message does not fit one datagram "
                        f"(limit {self.max_datagram}); use tcp or tls"
                    )
        try:
            sock = self._connect()
            if self.transport == "udp":
                for m in msgs:
                    sock.sendto(m, (self.host, self.port))
            else:
                sock.sendall(b"".join(str(len(m)).encode() + b" " + m for m in msgs))
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise SinkError(f"{self.name}: {type(exc).__name__}") from None

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _bulk_ok(reply: Mapping[str, Any]) -> bool:
    """A bulk reply without errors, or whose only errors are 409 conflicts: events indexed
    by an earlier try (at-least-once re-sends them under the same ``_id``)."""
    if reply.get("errors") is False:
        return True
    items = reply.get("items")
    if reply.get("errors") is not True or not isinstance(items, list) or not items:
        return False
    for item in items:
        result = next(iter(item.values()), None) if isinstance(item, dict) and item else None
        if not isinstance(result, dict):
            return False
        status = result.get("status")
        if not isinstance(status, int) or not (200 <= status < 300 or status == 409):
            return False
    return True


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HttpSink:
    """HTTP collectors: ``splunk_hec`` (``Authorization: Splunk TOKEN``, one
    ``{"time","sourcetype","event"}`` object per event), ``elastic_bulk`` (NDJSON ``create``
    actions; a reply with ``"errors": true`` is a failure) or ``ndjson`` (one event per
    line, bearer token). Plain ``http://`` is refused except to a loopback address, so a
    token never travels in the clear. Any reply but 2xx is a :class:`SinkError`."""

    STYLES = ("splunk_hec", "elastic_bulk", "ndjson")

    def __init__(
        self,
        url: str,
        *,
        style: str = "splunk_hec",
        token: str | None = None,
        index: str = "bastion-ocsf",
        sourcetype: str = "ocsf",
        timeout: float = 5.0,
        cafile: Path | None = None,
    ) -> None:
        if style not in self.STYLES:
            raise InputError(f"http sink style: expected one of {', '.join(self.STYLES)}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError("http sink url: expected an http(s) URL with a host")
        if parts.username or parts.password:
            raise InputError("http sink url: credentials go in the token, not in the URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise InputError("http sink url: plain http is only allowed to a loopback address")
        self.url, self.style, self.index, self.sourcetype = url, style, index, sourcetype
        self.name = f"http-{style}:{parts.hostname}:{parts.port or ''}"
        headers = {"User-Agent": "bastion-monitor"}
        if token:
            headers["Authorization"] = (
                f"Splunk {token}" if style == "splunk_hec" else f"Bearer {token}"
            )
        verify: ssl.SSLContext | bool = True
        if cafile is not None:
            verify = ssl.create_default_context(cafile=str(cafile))
        self._client = httpx.Client(
            timeout=timeout, headers=headers, verify=verify, follow_redirects=False
        )

    def _body(self, events: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
        if self.style == "splunk_hec":
            parts = [
                json.dumps(
                    {"time": e["time"] / 1000, "sourcetype": self.sourcetype, "event": e},
                    separators=(",", ":"),
                    default=str,
                )
                for e in events
            ]
            return "\n".join(parts).encode(), "application/json"
        if self.style == "elastic_bulk":
            lines = []
            for e in events:
                meta: dict[str, Any] = {"_index": self.index}
                uid = (
                    e.get("metadata", {}).get("uid")
                    if isinstance(e.get("metadata"), dict)
                    else None
                )
                if isinstance(uid, str) and uid:
                    meta["_id"] = (
                        uid  # a re-sent event is refused as a duplicate, not indexed twice
                    )
                lines += [json.dumps({"create": meta}), to_json(e)]
            return ("\n".join(lines) + "\n").encode(), "application/x-ndjson"
        return ("\n".join(to_json(e) for e in events) + "\n").encode(), "application/x-ndjson"

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        body, ctype = self._body(events)
        try:
            r = self._client.post(self.url, content=body, headers={"Content-Type": ctype})
        except httpx.HTTPError as exc:
            raise SinkError(f"{self.name}: {type(exc).__name__}") from None
        if not 200 <= r.status_code < 300:
            raise SinkError(f"{self.name}: answered HTTP {r.status_code}")
        if self.style == "elastic_bulk":
            try:
                reply = r.json()
            except ValueError:
                raise SinkError(f"{self.name}: the bulk reply is not JSON") from None
            if not isinstance(reply, dict) or not _bulk_ok(reply):
                raise SinkError(f"{self.name}: the bulk reply reports errors")

    def close(self) -> None:
        self._client.close()


class RedisStreamSink:
    """``XADD`` of each event (field ``event``, OCSF JSON) to a Redis stream, a batch in
    one MULTI/EXEC transaction; ``maxlen`` trims the stream approximately."""

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, stream: str = "bastion:ocsf",
        maxlen: int | None = None, timeout: float = 5.0,
    ) -> None:  # fmt: skip
        import redis

        if not stream or len(stream) > 256:
            raise InputError("redis stream: expected a key of 1-256 characters")
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise InputError("redis url: expected redis://, rediss:// or unix://")
        self.stream, self.maxlen = stream, maxlen
        self.name = f"redis:{parts.hostname or 'unix'}:{stream}"
        self._r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        import redis

        try:
            pipe = self._r.pipeline(transaction=True)
            for e in events:
                pipe.xadd(
                    self.stream,
                    {"event": _encode(e)},
                    maxlen=self.maxlen,
                    approximate=self.maxlen is not None,
                )
            pipe.execute()
        except redis.RedisError as exc:
            raise SinkError(f"{self.name}: {type(exc).__name__}") from None

    def close(self) -> None:
        self._r.close()


_SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class NatsSink:
    """Publishes each event (OCSF JSON) to a NATS subject for fan-out. With ``jetstream``
    every message is published to JetStream and acknowledged by the server (a stream must
    capture the subject; an unacknowledged batch fails whole, so the spool re-sends it);
    without, a batch is published and then flushed (a PING/PONG round trip: the server has
    taken it, though core NATS keeps nothing for subscribers that are not listening).

    nats-py is asynchronous: the sink runs its own event loop on a daemon thread and every
    call waits for the result with a timeout. Credentials go in ``token``, never the URL."""

    def __init__(
        self, url: str = "nats://127.0.0.1:4222", *, subject: str = "bastion.ocsf",
        jetstream: bool = False, token: str | None = None, timeout: float = 5.0,
        cafile: str | None = None,
    ) -> None:  # fmt: skip
        parts = urlsplit(url)
        if parts.scheme not in ("nats", "tls"):
            raise InputError("nats url: expected nats://HOST:PORT or tls://HOST:PORT")
        if parts.username or parts.password:
            raise InputError("nats url: credentials in a URL are refused (use the token option)")
        if not parts.hostname:
            raise InputError("nats url: no host")
        tokens = subject.split(".")
        if len(subject) > 256 or not all(_SUBJECT_TOKEN.match(t) for t in tokens):
            raise InputError(
                "nats subject: dot-separated tokens of letters, digits, '_' and '-' (no wildcards)"
            )
        self.url, self.subject, self.jetstream = url, subject, jetstream
        self.token, self.timeout, self.cafile = token, timeout, cafile
        self.name = f"nats:{parts.hostname}:{parts.port or 4222}:{subject}"
        self._nc: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"bastion-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self, coro: Any) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(self.timeout * 3)
        except TimeoutError:
            fut.cancel()
            raise

    async def _connect(self) -> Any:
        import nats

        async def _quiet(_exc: Exception) -> None:
            return None

        opts: dict[str, Any] = {
            "servers": [self.url], "connect_timeout": self.timeout, "allow_reconnect": False,
            "max_reconnect_attempts": 0, "error_cb": _quiet, "name": "bastion-monitor",
        }  # fmt: skip
        if self.token:
            opts["token"] = self.token
        if self.url.startswith("tls://"):
            ctx = ssl.create_default_context(cafile=self.cafile)
            opts["tls"] = ctx
        return await nats.connect(**opts)

    async def _send(self, payloads: list[bytes]) -> None:
        if self._nc is None or not self._nc.is_connected:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.close()
            self._nc = await self._connect()
        if self.jetstream:
            js = self._nc.jetstream(timeout=self.timeout)
            for p in payloads:
                await js.publish(self.subject, p, timeout=self.timeout)
        else:
            for p in payloads:
                await self._nc.publish(self.subject, p)
            await self._nc.flush(timeout=self.timeout)

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        from nats.errors import Error as NatsError

        payloads = [_encode(e) for e in events]  # InputError (malformed) before any I/O
        try:
            self._run(self._send(payloads))
        except (NatsError, OSError, TimeoutError) as exc:  # nats.js errors are NatsErrors
            self._drop()
            raise SinkError(f"{self.name}: {type(exc).__name__}") from None

    def _drop(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                self._run(nc.close())

    def close(self) -> None:
        self._drop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self.timeout)
        if not self._thread.is_alive():
            self._loop.close()


_SEG = "seg-"


class SpooledSink:
    """At-least-once delivery to ``sink`` through a bounded on-disk spool in ``spool_dir``.

    ``max_bytes`` bounds the spool (:class:`SpoolFullError` beyond it); ``segment_events``
    events form one segment, re-sent as one batch; after a failure the sink is retried at
    most every ``retry_interval`` seconds (each ``emit`` then only appends to the spool).
    One process holds a spool directory at a time (an exclusive lock)."""

    def __init__(
        self,
        sink: Sink,
        spool_dir: Path,
        *,
        max_bytes: int = 64 << 20,
        segment_events: int = 500,
        retry_interval: float = 1.0,
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 4096 or segment_events < 1:
            raise InputError("spool: max_bytes must be at least 4096, segment_events at least 1")
        self.sink, self.dir = sink, Path(spool_dir)
        self.max_bytes, self.segment_events = max_bytes, segment_events
        self.retry_interval, self.fsync, self._clock = retry_interval, fsync, clock
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.dir / "rejected").mkdir(exist_ok=True, mode=0o700)
        self._lockf = (self.dir / ".lock").open("a")
        try:
            fcntl.flock(self._lockf.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockf.close()
            raise SinkError(f"spool {self.dir.name}: in use by another process") from None
        self._lock = threading.RLock()
        segs = self._segments()
        self._next = (int(segs[-1].name[len(_SEG) : -6]) + 1) if segs else 0
        self._bytes = sum(p.stat().st_size for p in segs)
        self._pending = sum(_count_lines(p) for p in segs)
        self._cur: Path | None = None
        self._cur_events = 0
        self._retry_at = 0.0
        self.delivered = 0
        self.rejected = 0
        self.last_error: str | None = None

    # -- spool files ---------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.glob(f"{_SEG}*.jsonl") if p.is_file())

    def _append(self, lines: list[bytes]) -> None:
        size = sum(len(b) + 1 for b in lines)
        if self._bytes + size > self.max_bytes:
            raise SpoolFullError(
                f"spool {self.dir.name} is full ({self._bytes} of {self.max_bytes} bytes) and "
                f"{self.sink.name} is down ({self.last_error or 'unknown error'}); the event "
                "was not accepted"
            )
        i = 0
        while i < len(lines):
            new_segment = self._cur is None or self._cur_events >= self.segment_events
            if new_segment:
                self._cur = self.dir / f"{_SEG}{self._next:012d}.jsonl"
                self._next += 1
                self._cur_events = 0
            assert self._cur is not None
            take = lines[i : i + self.segment_events - self._cur_events]
            chunk = b"".join(b + b"\n" for b in take)
            try:
                _write_all(self._cur, chunk, fsync=self.fsync)
                if new_segment and self.fsync:
                    _fsync_dir(self.dir)
            except OSError as exc:
                raise SpoolFullError(
                    f"spool {self.dir.name}: cannot write ({exc.strerror}) and "
                    f"{self.sink.name} is down; the events not yet spooled were not accepted"
                ) from None
            self._cur_events += len(take)
            self._bytes += len(chunk)
            self._pending += len(take)
            i += len(take)

    def pending(self) -> int:
        """Events in the spool, not yet delivered."""
        return self._pending

    # -- delivery -----------------------------------------------------------------------
    def emit(
        self, event: Mapping[str, Any] | ApiActivity | Authentication | DetectionFinding
    ) -> None:
        self.emit_many([event])

    def emit_many(
        self, events: Iterable[Mapping[str, Any] | ApiActivity | Authentication | DetectionFinding]
    ) -> None:
        """Deliver ``events`` or spool them; ``SpoolFullError`` when neither is possible
        (then none of them was accepted). A malformed event is refused (``InputError``)
        before anything is sent."""
        docs = [as_ocsf(e) for e in events]
        lines = [_encode(d) for d in docs]
        if not docs:
            return
        with self._lock:
            if self._pending == 0 and self._clock() >= self._retry_at:
                try:
                    self.sink.send(docs)
                    self.delivered += len(docs)
                    return
                except SinkError as exc:
                    self._failed(exc)
            self._append(lines)
            if self._clock() >= self._retry_at:
                self.flush()

    @property
    def name(self) -> str:
        return f"spooled:{self.sink.name}"

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        """The :class:`Sink` protocol: deliver or spool (``SpoolFullError`` when full)."""
        self.emit_many(events)

    def _failed(self, exc: SinkError) -> None:
        self.last_error = exc.message
        self._retry_at = self._clock() + self.retry_interval
        _log.warning("%s; spooling", exc.message)

    def flush(self) -> int:
        """Re-send the spool, oldest segment first; stops at the first failure (kept for
        the next try). Returns the number of events delivered."""
        sent = 0
        with self._lock:
            for seg in self._segments():
                raw = seg.read_bytes()
                docs, bad = _parse_segment(raw)
                n = len(docs) + len(bad)
                try:
                    if docs:
                        self._send_segment(seg, docs)
                except SinkError as exc:
                    self._failed(exc)
                    return sent
                if bad:
                    self._reject(seg.name, bad, "not valid JSON (a torn write)")
                seg.unlink()
                if seg == self._cur:
                    self._cur = None
                sent += len(docs)
                self.delivered += len(docs)
                self._pending -= n
                self._bytes -= len(raw)
            self._retry_at = 0.0
            self.last_error = None
        return sent

    def _send_segment(self, seg: Path, docs: list[dict[str, Any]]) -> None:
        try:
            self.sink.send(docs)
            return
        except InputError:
            pass  # one of them is malformed for this sink: find it, send the rest
        good: list[dict[str, Any]] = []
        for d in docs:
            try:
                self.sink.send([d])
                good.append(d)
            except InputError as exc:
                self._reject(seg.name, [_encode(d)], exc.message)
        # the rejected ones are counted in self.rejected, not as delivered
        docs[:] = good

    def _reject(self, seg: str, lines: list[bytes], why: str) -> None:
        self.rejected += len(lines)
        path = self.dir / "rejected" / seg
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"".join(b + b"\n" for b in lines))
        finally:
            os.close(fd)
        _log.error("%d event(s) of spool segment %s rejected by %s: %s", len(lines), seg,
                   self.sink.name, why)  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self.sink.close()
            with contextlib.suppress(OSError):
                fcntl.flock(self._lockf.fileno(), fcntl.LOCK_UN)
            self._lockf.close()

    def __enter__(self) -> SpooledSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(path: Path, data: bytes, *, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _parse_segment(raw: bytes) -> tuple[list[dict[str, Any]], list[bytes]]:
    docs: list[dict[str, Any]] = []
    bad: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(d, dict):
            docs.append(d)
        else:
            bad.append(line)
    return docs, bad


class SinkKind(enum.StrEnum):
    FILE = "file"
    HTTP = "http"
    SYSLOG = "syslog"
    REDIS = "redis"
    NATS = "nats"


def open_sink(
    kind: SinkKind | str,
    target: str,
    *,
    style: str = "splunk_hec",
    token: str | None = None,
) -> FileSink | HttpSink | RedisStreamSink | SyslogSink | NatsSink:
    """A sink from its configured form: file ``PATH``, http ``URL``, redis ``URL#STREAM``,
    nats ``URL#SUBJECT`` (``URL#js:SUBJECT`` for JetStream acknowledgements), syslog
    ``udp|tcp|tls://HOST:PORT`` (what the CLI and later the guard's config name)."""
    try:
        kind = SinkKind(kind)
    except ValueError:
        raise InputError(f"sink: expected one of {', '.join(k.value for k in SinkKind)}") from None
    if kind is SinkKind.FILE:
        return FileSink(Path(target))
    if kind is SinkKind.HTTP:
        return HttpSink(target, style=style, token=token)
    if kind is SinkKind.REDIS:
        url, _, stream = target.partition("#")
        return RedisStreamSink(url, stream=stream or "bastion:ocsf")
    if kind is SinkKind.NATS:
        url, _, subject = target.partition("#")
        js = subject.startswith("js:")
        return NatsSink(url, subject=subject.removeprefix("js:") or "bastion.ocsf",
                        jetstream=js, token=token)  # fmt: skip
    transport, sep, rest = target.partition("://")
    if not sep or transport not in ("udp", "tcp", "tls"):
        raise InputError(
            "syslog target: expected udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"
        )
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise InputError("syslog target: expected HOST:PORT after the transport")
    return SyslogSink(host.strip("[]"), int(port), transport=transport)
