"""The guard as an ASGI reverse proxy (pure ASGI: no framework on the request path).

``POST /endpoints/{name}`` runs the pipeline and, when every stage admits the request,
forwards its body to the endpoint's upstream over pooled keep-alive connections
(:mod:`bastion.guard._upstream`; egress-checked, pinned to the checked address, behind the
endpoint's circuit breaker and timeout). ``GET /healthz`` answers liveness. Refusals: 400 malformed JSON, 401 bad or
expired credentials, 403 denied (the reason id, never internals), 404 unknown endpoint,
405 wrong method, 408 a body that does not arrive in time (slow-loris), 413 oversized
body (read with a limit, never buffered past it), 422 schema or range, 429 rate limit or
quota, 502 upstream error or egress refused, 503 overloaded / breaker open / audit
backlog (with the fallback answer when the endpoint has one), 504 upstream timeout.
Every request, refused or not, is an audit record.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from bastion.access.interface import RequestCredentials
from bastion.guard._egress import EgressDenied, EgressPolicy
from bastion.guard._pipeline import Admission, EndpointRuntime, Pipeline, Refusal
from bastion.guard._upstream import UpstreamError, UpstreamPool
from bastion.guard.interface import Response

__all__ = ["MAX_UPSTREAM_BYTES", "GuardProxy"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_UPSTREAM_BYTES = 8 * 1024 * 1024
_JSON = (b"content-type", b"application/json")
_PREFIX = "/endpoints/"


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _credentials(scope: Scope) -> RequestCredentials:
    bearer = None
    for k, v in scope.get("headers", ()):
        if k == b"authorization":
            scheme, _, rest = v.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                bearer = rest.strip()[:8192]
            break
    der: bytes | None = None
    chain: tuple[bytes, ...] = ()
    tls = (scope.get("extensions") or {}).get("tls")
    if isinstance(tls, dict):
        pems = tls.get("client_cert_chain") or []
        try:
            ders = tuple(ssl.PEM_cert_to_DER_cert(p) for p in pems[:8])
        except ValueError:
            ders = ()
        if ders:
            der, chain = ders[0], ders[1:]
    client = scope.get("client")
    addr = str(client[0]) if client else None
    return RequestCredentials(bearer=bearer, client_cert_der=der, client_chain_der=chain,
                              remote_addr=addr)  # fmt: skip


class GuardProxy:
    def __init__(self, pipeline: Pipeline, egress: EgressPolicy, *, max_idle: int = 256) -> None:
        self.pipeline = pipeline
        self.egress = egress
        self.upstream = UpstreamPool(max_idle=max_idle, max_bytes=MAX_UPSTREAM_BYTES)

    async def startup(self) -> None:
        if self.pipeline.audit is not None:
            self.pipeline.audit.start()

    async def shutdown(self) -> None:
        self.upstream.close()
        if self.pipeline.audit is not None:
            await asyncio.to_thread(self.pipeline.audit.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return  # websockets are not served
        path: str = scope.get("path", "")
        if path == "/healthz" and scope.get("method") == "GET":
            await _reply(send, 200, b'{"status":"ok"}')
            return
        if not path.startswith(_PREFIX):
            await _reply(send, 404, b'{"error":"not-found","status":404}')
            return
        ep = self.pipeline.endpoints.get(path[len(_PREFIX) :])
        if ep is None:
            await _reply(send, 404, b'{"error":"unknown-endpoint","status":404}')
            return
        if scope.get("method") != "POST":
            await _reply(send, 405, b'{"error":"method-not-allowed","status":405}',
                         [(b"allow", b"POST")])  # fmt: skip
            return
        await self._guarded(ep, scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)[:200]})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _guarded(
        self, ep: EndpointRuntime, scope: Scope, receive: Receive, send: Send
    ) -> None:
        p = self.pipeline
        started = time.perf_counter()
        rid = uuid.uuid4().hex
        creds = _credentials(scope)
        if not p.try_enter(p.priority_of(ep)):
            ref = p.shed(ep)
            await self._refuse(ep, creds, rid, started, ref, send, None)
            return
        try:
            adm = p.authorize(ep, creds, rid)
            if isinstance(adm, Refusal):
                await self._refuse(ep, creds, rid, started, adm, send, None)
                return
            try:
                body = await self._read_body(scope, receive)
            except _BodyTooLarge:
                ref = Refusal(413, "body-too-large", "over the limit")
                await self._refuse(ep, creds, rid, started, ref, send, adm)
                return
            except TimeoutError:
                ref = Refusal(408, "body-timeout", "the body did not arrive in time")
                await self._refuse(ep, creds, rid, started, ref, send, adm)
                return
            except _Disconnected:
                ref = Refusal(499, "client-disconnected", "the client went away")
                p.record(p.outcome(ep, creds, request_id=rid, status=499, started=started,
                                   admission=adm, refusal=ref))  # fmt: skip
                return
            stop = p.parse(adm, body) or p.inspect(adm)
            if stop is not None:
                await self._refuse(ep, creds, rid, started, stop, send, adm)
                return
            await self._forward(ep, adm, body, creds, rid, started, send)
        finally:
            p.leave()

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.pipeline.config.limits.max_body_bytes
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    if int(v) > limit:
                        raise _BodyTooLarge()
                except ValueError:
                    raise _BodyTooLarge() from None
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.pipeline.config.limits.body_timeout_s):
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise _Disconnected()
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge()
                chunks.append(chunk)
                if not msg.get("more_body", False):
                    break
        return b"".join(chunks)

    async def _forward(
        self, ep: EndpointRuntime, adm: Admission, body: bytes, creds: RequestCredentials,
        rid: str, started: float, send: Send,
    ) -> None:  # fmt: skip
        p = self.pipeline
        fb = ep.fallback
        if not ep.breaker.allow():
            ref = Refusal(503, "upstream-unavailable", "circuit breaker open",
                          retry_after_s=ep.breaker.retry_after_s(),
                          fallback=fb.body if fb else None,
                          fallback_status=fb.status if fb else 200)  # fmt: skip
            await self._refuse(ep, creds, rid, started, ref, send, adm)
            return
        try:
            target = self.egress.check(ep.config.upstream)
        except EgressDenied as exc:
            ep.breaker.success()  # not the upstream's fault: release a half-open probe
            ref = Refusal(502, "egress-denied", exc.message)
            await self._refuse(ep, creds, rid, started, ref, send, adm)
            return
        u = urlsplit(ep.config.upstream)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        headers = [("content-type", "application/json"), ("x-request-id", rid)]
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(ep.config.timeout_s):
                answer = await self.upstream.post(target, path, u.netloc, body, headers)
        except TimeoutError:
            ep.breaker.failure()
            ref = Refusal(504, "upstream-timeout", f"no answer in {ep.config.timeout_s}s",
                          fallback=fb.body if fb else None,
                          fallback_status=fb.status if fb else 200)  # fmt: skip
            await self._refuse(ep, creds, rid, started, ref, send, adm)
            return
        except UpstreamError as exc:
            ep.breaker.failure()
            ref = Refusal(502, "upstream-error", str(exc)[:200],
                          fallback=fb.body if fb else None,
                          fallback_status=fb.status if fb else 200)  # fmt: skip
            await self._refuse(ep, creds, rid, started, ref, send, adm)
            return
        upstream_ms = (time.perf_counter() - t0) * 1000.0
        raw = answer.body
        if answer.status >= 500:
            ep.breaker.failure()
            ref = Refusal(502, "upstream-error", f"upstream answered {answer.status}",
                          fallback=fb.body if fb else None,
                          fallback_status=fb.status if fb else 200)  # fmt: skip
            await self._refuse(ep, creds, rid, started, ref, send, adm, upstream_ms)
            return
        ep.breaker.success()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            ref = Refusal(502, "upstream-not-json", "the upstream's answer is not JSON")
            await self._refuse(ep, creds, rid, started, ref, send, adm, upstream_ms)
            return
        out, filters, blocked = p.finish(adm, Response(status=answer.status, json=parsed))
        if blocked is not None:
            await self._refuse(ep, creds, rid, started, blocked, send, adm, upstream_ms, filters)
            return
        payload = raw if out is parsed else json.dumps(out, separators=(",", ":")).encode()
        outcome = p.outcome(ep, creds, request_id=rid, status=answer.status, started=started,
                            admission=adm, filters=filters, upstream_ms=upstream_ms,
                            output=_summary(out))  # fmt: skip
        if not p.record(outcome):
            await _reply(send, 503, b'{"error":"audit-backlog","status":503}',
                         [(b"retry-after", b"1"), (b"x-request-id", rid.encode())])  # fmt: skip
            return
        await _reply(send, answer.status, payload, [(b"x-request-id", rid.encode())])

    async def _refuse(
        self, ep: EndpointRuntime, creds: RequestCredentials, rid: str, started: float,
        ref: Refusal, send: Send, adm: Admission | None, upstream_ms: float | None = None,
        filters: Any = (),
    ) -> None:  # fmt: skip
        p = self.pipeline
        status = ref.status
        headers = [(b"x-request-id", rid.encode())]
        if ref.retry_after_s is not None:
            headers.append((b"retry-after", str(max(1, int(ref.retry_after_s))).encode()))
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="bastion-guard"'))
        body = json.dumps(ref.body(), separators=(",", ":")).encode()
        if ref.fallback is not None:
            status = ref.fallback_status
            body = json.dumps(dict(ref.fallback), separators=(",", ":")).encode()
            headers.append((b"x-bastion-fallback", ref.reason.encode()))
        p.record(p.outcome(ep, creds, request_id=rid, status=ref.status, started=started,
                           admission=adm, refusal=ref, filters=filters,
                           upstream_ms=upstream_ms))  # fmt: skip
        await _reply(send, status, body, headers)


def _summary(out: Any) -> Any:
    """What of the answer goes in the OCSF event: a small JSON value, never a huge body."""
    if isinstance(out, dict):
        return {k: v for k, v in list(out.items())[:20] if isinstance(v, (str, int, float, bool))}
    return None


async def _reply(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    hs = [_JSON, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    if headers:
        hs.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": body})
