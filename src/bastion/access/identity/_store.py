"""The ``jti`` cache: replayed and revoked token ids.

Two implementations of one small protocol. :class:`MemoryJtiStore` is an in-process LRU with
a TTL per entry (the default); :class:`RedisJtiStore` keeps the same state in Redis with key
expiry, so guard replicas share it (used when ``BASTION_REDIS_URL`` is set). Revocations are
also written to the database (``access_revoked_jtis``), the durable record: a memory store
reloads them from there every few seconds, so a revocation made by another process (the CLI)
reaches a running server without Redis too. A store that cannot answer fails closed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select

from bastion.access.identity._rows import RevokedJtiRow
from bastion.access.interface import CredentialError
from bastion.core.workspace import Workspace

__all__ = ["JtiStore", "MemoryJtiStore", "RedisJtiStore", "open_jti_store"]

MAX_JTI = 128


@runtime_checkable
class JtiStore(Protocol):
    def consume(self, jti: str, expires_at: float) -> bool:
        """Mark ``jti`` used until ``expires_at`` (epoch seconds); False if it already was."""
        ...

    def revoke(self, jti: str, expires_at: float) -> None:
        """Revoke ``jti`` until ``expires_at`` (after which the token is dead anyway)."""
        ...

    def is_revoked(self, jti: str) -> bool: ...


class _Lru:
    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self.max = max_entries
        self.clock = clock
        self.d: OrderedDict[str, float] = OrderedDict()

    def _expire(self) -> None:
        now = self.clock()
        # entries are mostly in expiry order; sweep the oldest few each call
        for _ in range(8):
            if not self.d:
                return
            k, exp = next(iter(self.d.items()))
            if exp > now:
                return
            del self.d[k]

    def get(self, k: str) -> bool:
        exp = self.d.get(k)
        if exp is None:
            return False
        if exp <= self.clock():
            del self.d[k]
            return False
        self.d.move_to_end(k)
        return True

    def put(self, k: str, exp: float) -> None:
        self._expire()
        self.d[k] = max(exp, self.d.get(k, 0.0))
        self.d.move_to_end(k)
        while len(self.d) > self.max:
            self.d.popitem(last=False)


class MemoryJtiStore:
    """In-process: an LRU of used ids (bounded; the oldest are forgotten first) and the set
    of revoked ids, reloaded from ``loader`` every ``reload_seconds``."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        loader: Callable[[], dict[str, float]] | None = None,
        reload_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._used = _Lru(max_entries, clock)
        self._revoked: dict[str, float] = {}
        self._loader = loader
        self._reload = reload_seconds
        self._loaded_at = -1e18
        self._clock = clock

    def consume(self, jti: str, expires_at: float) -> bool:
        with self._lock:
            if self._used.get(jti):
                return False
            self._used.put(jti, expires_at)
            return True

    def revoke(self, jti: str, expires_at: float) -> None:
        with self._lock:
            self._revoked[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        now = self._clock()
        with self._lock:
            if self._loader is not None and now - self._loaded_at >= self._reload:
                self._revoked.update(self._loader())
                self._loaded_at = now
            exp = self._revoked.get(jti)
            if exp is not None and exp <= now:
                del self._revoked[jti]
                return False
            return exp is not None


class RedisJtiStore:
    """Shared by every replica: ``SET NX EX`` for use, ``SET EX`` for revocation."""

    def __init__(
        self, url: str, *, prefix: str = "bastion:jti:", timeout: float = 2.0, client: Any = None
    ) -> None:
        import redis

        self._err = redis.RedisError
        self._r = client or redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = prefix

    def _ttl(self, expires_at: float) -> int:
        return max(1, int(expires_at - time.time()) + 1)

    def consume(self, jti: str, expires_at: float) -> bool:
        try:
            return bool(
                self._r.set(self._prefix + "used:" + jti, b"1", nx=True, ex=self._ttl(expires_at))
            )
        except self._err as exc:
            raise CredentialError(f"jti cache unavailable ({type(exc).__name__})") from None

    def revoke(self, jti: str, expires_at: float) -> None:
        try:
            self._r.set(self._prefix + "revoked:" + jti, b"1", ex=self._ttl(expires_at))
        except self._err as exc:
            raise CredentialError(f"jti cache unavailable ({type(exc).__name__})") from None

    def is_revoked(self, jti: str) -> bool:
        try:
            return bool(self._r.exists(self._prefix + "revoked:" + jti))
        except self._err as exc:
            raise CredentialError(f"jti cache unavailable ({type(exc).__name__})") from None


def _db_loader(ws: Workspace) -> Callable[[], dict[str, float]]:
    def load() -> dict[str, float]:
        now = datetime.now(UTC)
        with ws.db.session() as s:
            rows = s.scalars(select(RevokedJtiRow).where(RevokedJtiRow.expires_at > now))
            out: dict[str, float] = {}
            for r in rows:
                exp = r.expires_at if r.expires_at.tzinfo else r.expires_at.replace(tzinfo=UTC)
                out[r.jti] = exp.timestamp()
            return out

    return load


_STORES: dict[str, JtiStore] = {}
_STORES_LOCK = threading.Lock()


def open_jti_store(ws: Workspace) -> JtiStore:
    """Redis when the workspace's settings name one, else one memory store per workspace
    home in this process (seeded and refreshed from the database's revocations)."""
    url = ws.settings.redis_url
    key = f"redis:{url}" if url else f"memory:{ws.settings.home.resolve()}"
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = RedisJtiStore(url) if url else MemoryJtiStore(loader=_db_loader(ws))
            _STORES[key] = store
        return store
