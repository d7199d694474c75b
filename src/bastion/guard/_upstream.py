"""The guard's upstream client: pooled keep-alive HTTP/1.1 connections, parsed by h11.

Measured in benchmarks/guard_overhead.py, httpx's AsyncClient was most of the guard's own
cost per request (its client, httpcore and anyio layers, several event-loop turns each).
So the guard keeps its own small pool over asyncio streams and lets h11 (the HTTP/1.1 state
machine httpcore itself uses) do the parsing. A connection is reused only when h11 says
both sides finished the exchange cleanly, and it is dropped on any error. Answers are read
with a byte cap. The caller bounds the whole call with its timeout. Destinations come
pinned and checked from :class:`~bastion.guard._egress.EgressPolicy`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass

import h11

from bastion.guard._egress import PinnedTarget

__all__ = ["UpstreamAnswer", "UpstreamError", "UpstreamPool"]


class UpstreamError(Exception):
    """The upstream could not be reached or answered something that is not HTTP."""


class AnswerTooLarge(UpstreamError):
    pass


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    body: bytes


class _Conn:
    __slots__ = ("h11", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)

    def close(self) -> None:
        self.writer.close()


class UpstreamPool:
    def __init__(self, *, max_idle: int = 256, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_idle = max_idle
        self.max_bytes = max_bytes
        self._idle: dict[tuple[str, str, int, str], deque[_Conn]] = {}
        self._tls = ssl.create_default_context()

    async def _connect(self, t: PinnedTarget) -> _Conn:
        try:
            if t.scheme == "https":
                r, w = await asyncio.open_connection(t.address, t.port, ssl=self._tls,
                                                     server_hostname=t.host)  # fmt: skip
            else:
                r, w = await asyncio.open_connection(t.address, t.port)
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError(type(exc).__name__) from None
        return _Conn(r, w)

    async def post(
        self, target: PinnedTarget, path: str, host_header: str, body: bytes,
        headers: list[tuple[str, str]],
    ) -> UpstreamAnswer:  # fmt: skip
        key = (target.scheme, target.address, target.port, target.host)
        idle = self._idle.setdefault(key, deque())
        reused = bool(idle)
        conn = idle.pop() if reused else await self._connect(target)
        try:
            answer = await self._exchange(conn, path, host_header, body, headers)
        except (UpstreamError, h11.ProtocolError, OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            if isinstance(exc, AnswerTooLarge):
                raise
            if reused and isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)):
                # a kept-alive connection the upstream closed meanwhile: once, on a fresh one
                conn = await self._connect(target)
                try:
                    answer = await self._exchange(conn, path, host_header, body, headers)
                except (h11.ProtocolError, OSError, asyncio.IncompleteReadError) as exc2:
                    conn.close()
                    raise UpstreamError(type(exc2).__name__) from None
            else:
                raise UpstreamError(type(exc).__name__) from None
        except BaseException:  # cancelled (the caller's timeout): the connection is unusable
            conn.close()
            raise
        c = conn.h11
        if c.our_state is h11.DONE and c.their_state is h11.DONE and len(idle) < self.max_idle:
            c.start_next_cycle()
            idle.append(conn)
        else:
            conn.close()
        return answer

    async def _exchange(
        self, conn: _Conn, path: str, host_header: str, body: bytes,
        headers: list[tuple[str, str]],
    ) -> UpstreamAnswer:  # fmt: skip
        c = conn.h11
        hs = [("host", host_header), ("content-length", str(len(body))), *headers]
        data = c.send(h11.Request(method="POST", target=path, headers=hs))
        data += c.send(h11.Data(data=body)) + c.send(h11.EndOfMessage())
        conn.writer.write(data)
        await conn.writer.drain()
        status = 0
        chunks: list[bytes] = []
        size = 0
        while True:
            event = c.next_event()
            if event is h11.NEED_DATA:
                c.receive_data(await conn.reader.read(65536))  # b"": the upstream closed
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_bytes:
                    raise AnswerTooLarge("the upstream's answer is over the limit")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return UpstreamAnswer(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise UpstreamError("the upstream closed the connection")

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
