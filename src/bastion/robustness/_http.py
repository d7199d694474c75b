"""The room's bounded HTTP client and request-template helpers, shared by the
black-box endpoint targets (:mod:`bastion.robustness._endpoint`) and the LLM targets
(:mod:`bastion.robustness.llm._targets`).

Every request is bounded: a host allowlist (loopback unless the operator names more),
connect/read timeouts, retries with backoff on transport errors, 429 and 5xx, a cap on
the response size read (the body is streamed and abandoned past it) and no redirects.
Templates are JSON bodies whose placeholders are replaced by values (never spliced into
JSON syntax); responses are read with a small JSONPath subset.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx

from bastion.robustness.interface import RobustnessError

__all__ = [
    "BoundedClient",
    "ClientOwner",
    "Limits",
    "check_url",
    "fill",
    "json_path",
    "location",
    "uses",
]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Limits:
    """Bounds on every request: seconds to connect and to read, retries after a
    transport error, 429 or 5xx, and the largest response body read."""

    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 2
    max_response_bytes: int = 1024 * 1024
    backoff: float = 0.25

    def __post_init__(self) -> None:
        if not (0 < self.connect_timeout <= 300 and 0 < self.read_timeout <= 3600):
            raise RobustnessError("timeouts must be positive (connect <= 300 s, read <= 3600 s)")
        if not 0 <= self.retries <= 10:
            raise RobustnessError("retries must lie in 0..10")
        if not 1024 <= self.max_response_bytes <= 64 * 1024 * 1024:
            raise RobustnessError("max_response_bytes must lie in 1 KiB..64 MiB")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_hosts: tuple[str, ...] = ()) -> str:
    """``url`` if it is http(s) to a loopback host or one the operator allowed; the
    refusal names the host (deny by default: red-teaming someone else's endpoint needs
    an explicit ``--allow-host``)."""
    if len(url) > 2000:
        raise RobustnessError("target URL: longer than 2000 characters")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise RobustnessError(f"target URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise RobustnessError("target URL: expected http:// or https:// with a host")
    if parts.username or parts.password:
        raise RobustnessError(
            "target URL: no credentials in the URL; pass the key through --api-key-env"
        )
    if not _loopback(host) and host not in {h.lower() for h in allow_hosts}:
        raise RobustnessError(
            f"target host {host} is not loopback and not allowed: add --allow-host {host} "
            "if you are authorised to test it"
        )
    return url


def location(url: str) -> str:
    """The URL without query, fragment or credentials (safe for evidence)."""
    p = urlsplit(url)
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


class BoundedClient:
    """An httpx client under :class:`Limits`, posting JSON and reading JSON back."""

    def __init__(
        self,
        url: str,
        *,
        limits: Limits,
        allow_hosts: tuple[str, ...],
        headers: Mapping[str, str],
        method: str = "POST",
        max_connections: int = 64,
    ) -> None:
        self.url = check_url(url, allow_hosts)
        self.limits = limits
        self.method = method
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                limits.read_timeout, connect=limits.connect_timeout, pool=limits.read_timeout
            ),
            follow_redirects=False,
            headers=dict(headers),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(16, max_connections),
            ),
        )

    @property
    def location(self) -> str:
        return location(self.url)

    def close(self) -> None:
        self._client.close()

    def post(self, body: Any) -> tuple[int, Any, str | None, float]:
        """``(status, parsed JSON or None, error, seconds)`` after retries."""
        start = time.monotonic()
        last_error = "no attempt made"
        status = 0
        for attempt in range(self.limits.retries + 1):
            if attempt:
                time.sleep(min(self.limits.backoff * 2 ** (attempt - 1), 4.0))
            try:
                with self._client.stream(self.method, self.url, json=body) as resp:
                    status = resp.status_code
                    if status in _RETRY_STATUS and attempt < self.limits.retries:
                        last_error = f"HTTP {status}"
                        continue
                    raw = bytearray()
                    for chunk in resp.iter_bytes():
                        raw += chunk
                        if len(raw) > self.limits.max_response_bytes:
                            return (
                                status,
                                None,
                                f"response larger than {self.limits.max_response_bytes} bytes",
                                time.monotonic() - start,
                            )
            except httpx.TimeoutException:
                last_error = "timed out"
                continue
            except httpx.TransportError as exc:
                last_error = f"transport error ({type(exc).__name__})"
                continue
            if not 200 <= status < 300:
                return status, None, f"HTTP {status}", time.monotonic() - start
            try:
                return status, json.loads(bytes(raw)), None, time.monotonic() - start
            except (ValueError, UnicodeDecodeError):
                return status, None, "response is not JSON", time.monotonic() - start
        return status, None, last_error, time.monotonic() - start


_PATH_TOKEN = re.compile(
    r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]"
)


class ClientOwner:
    """What every target that talks through a :class:`BoundedClient` (``self._http``) says
    of it: where it points, and that it closes the client, also as a context manager."""

    _http: BoundedClient

    @property
    def location(self) -> str:
        return self._http.location

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_path(doc: Any, path: str) -> Any:
    """JSONPath-lite: ``$.a.b[0]['c-d']``; the value, or None when a step is missing."""
    if not path.startswith("$"):
        raise RobustnessError(f"response path {path[:60]!r}: must start with $")
    pos, cur = 1, doc
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise RobustnessError(f"response path {path[:60]!r}: cannot read at position {pos}")
        key, index, q1, q2 = m.groups()
        if index is not None:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else None
        else:
            name = key if key is not None else (q1 if q1 is not None else q2)
            cur = cur.get(name) if isinstance(cur, dict) else None
        if cur is None:
            return None
        pos = m.end()
    return cur


def uses(node: Any, token: str) -> bool:
    """Whether ``token`` appears in any string of a template body."""
    if isinstance(node, str):
        return token in node
    if isinstance(node, dict):
        return any(uses(v, token) for v in node.values())
    if isinstance(node, list):
        return any(uses(v, token) for v in node)
    return False


def fill(node: Any, values: Mapping[str, str], lists: Mapping[str, Any]) -> Any:
    """The body with each string ``$X`` of ``values`` replaced inside strings and each
    value exactly a key of ``lists`` replaced by that JSON value."""
    if isinstance(node, str):
        if node in lists:
            return lists[node]
        for k, v in values.items():
            node = node.replace(k, v)
        return node
    if isinstance(node, dict):
        return {k: fill(v, values, lists) for k, v in node.items()}
    if isinstance(node, list):
        return [fill(v, values, lists) for v in node]
    return node
