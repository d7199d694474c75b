"""The guard's shared state: in process, or Redis when ``BASTION_REDIS_URL`` is set.

Both stores implement :class:`bastion.guard.interface.StateStore` (counters, small blobs
and capped lists with expiry, for the detection stages) and the pipeline's own needs: an
atomic token bucket (:meth:`take`) for rate limits and quotas, and a revocation set, so
that two guard replicas against one Redis share limits and revocations. Redis does each
operation in one round trip (a Lua script for the bucket), so replicas never race.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from bastion.core.errors import ConfigError, InputError

__all__ = [
    "BucketResult",
    "MemoryStateStore",
    "RedisStateStore",
    "open_state_store",
]

MAX_KEY = 256
MAX_VALUE = 64 * 1024
MAX_LIST = 100_000
PREFIX = "bastion:guard:"


def _key(key: str) -> str:
    if not key or len(key) > MAX_KEY:
        raise InputError(f"state key: expected 1-{MAX_KEY} characters")
    return key


def _value(value: bytes) -> bytes:
    if len(value) > MAX_VALUE:
        raise InputError(f"state value: larger than {MAX_VALUE} bytes")
    return value


@dataclass(frozen=True, slots=True)
class BucketResult:
    """One token-bucket decision: allowed or not, tokens left, seconds until one is back."""

    allowed: bool
    remaining: float
    retry_after_s: float


def _bucket_math(
    tokens: float, stamp: float, now: float, rate: float, burst: float, cost: float
) -> tuple[bool, float, float]:
    """Refill ``tokens`` (last seen at ``stamp``) to ``now`` and try to spend ``cost``."""
    tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
    if tokens >= cost:
        return True, tokens - cost, 0.0
    return False, tokens, (cost - tokens) / rate if rate > 0 else math.inf


class MemoryStateStore:
    """One process's state (a dict under a lock); expiry is checked on read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[Any, float | None]] = {}
        self._writes = 0

    @property
    def name(self) -> str:
        return "memory"

    def _live(self, key: str) -> Any:
        got = self._values.get(key)
        if got is None:
            return None
        value, expires = got
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value

    def _put(self, key: str, value: Any, ttl_s: float | None) -> None:
        self._values[key] = (value, None if ttl_s is None else self._clock() + ttl_s)
        self._writes += 1
        if self._writes % 4096 == 0:  # sweep expired keys now and then: bounded memory
            now = self._clock()
            for k in [k for k, (_, e) in self._values.items() if e is not None and e <= now]:
                del self._values[k]

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        with self._lock:
            current = self._live(_key(key))
            value = (current if isinstance(current, int) else 0) + amount
            expires = self._values[key][1] if current is not None else None
            if expires is None:  # new, or never given an expiry: this call's ttl starts now
                self._put(key, value, ttl_s)
            else:  # the window keeps its first expiry (a fixed window, as Redis does)
                self._values[key] = (value, expires)
            return value

    def get(self, key: str) -> bytes | None:
        with self._lock:
            v = self._live(_key(key))
            if isinstance(v, int):
                return str(v).encode()
            return v if isinstance(v, bytes) else None

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        with self._lock:
            self._put(_key(key), _value(value), ttl_s)

    def push_bounded(self, key: str, value: bytes, maxlen: int, ttl_s: float | None = None) -> None:
        if not 1 <= maxlen <= MAX_LIST:
            raise InputError(f"maxlen: expected 1-{MAX_LIST}")
        with self._lock:
            cur = self._live(_key(key))
            items: deque[bytes] = cur if isinstance(cur, deque) else deque()
            items.append(_value(value))
            while len(items) > maxlen:
                items.popleft()
            self._put(key, items, ttl_s)

    def items(self, key: str) -> list[bytes]:
        with self._lock:
            cur = self._live(_key(key))
            return list(cur) if isinstance(cur, deque) else []

    def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> BucketResult:
        """Spend ``cost`` tokens of the bucket ``key`` (``rate`` per second, ``burst`` deep)."""
        with self._lock:
            now = self._clock()
            cur = self._live(_key(key))
            tokens, stamp = cur if isinstance(cur, tuple) else (burst, now)
            ok, left, wait = _bucket_math(tokens, stamp, now, rate, burst, cost)
            self._put(key, (left, now), _bucket_ttl(rate, burst))
            return BucketResult(ok, left, wait)

    def revoke(self, token_id: str, ttl_s: float) -> None:
        self.set("revoked:" + token_id, b"1", ttl_s)

    def is_revoked(self, token_id: str) -> bool:
        return self.get("revoked:" + token_id) is not None

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


def _bucket_ttl(rate: float, burst: float) -> float:
    """A bucket idle long enough to be full again is forgotten (it would read as full)."""
    return max(1.0, burst / rate + 1.0) if rate > 0 else 86_400.0


# KEYS[1] bucket; ARGV rate, burst, cost, ttl_ms. Redis's own clock (TIME) is the one clock
# of every replica, so two guards never disagree on how much has refilled.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local got = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(got[1]) or burst
local stamp = tonumber(got[2]) or now
local elapsed = now - stamp
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
elseif rate > 0 then
  wait = (cost - tokens) / rate
else
  wait = -1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, tostring(tokens), tostring(wait)}
"""

_PUSH = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""


def _ms(ttl_s: float | None) -> int:
    return 0 if ttl_s is None else max(1, math.ceil(ttl_s * 1000))


class RedisStateStore:
    """State shared by every guard replica through one Redis (keys under ``bastion:guard:``).

    A Redis that cannot be reached raises :class:`ConfigError` at :meth:`ping` (start-up)
    and from any call afterwards: the pipeline turns that into a refusal, never an allow.
    """

    def __init__(self, url: str, *, prefix: str = PREFIX, timeout_s: float = 0.5) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._push = self._redis.register_script(_PUSH)
        self._incr = self._redis.register_script(_INCR)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    @property
    def name(self) -> str:
        return "redis"

    def _k(self, key: str) -> str:
        return self._prefix + _key(key)

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._errors as exc:
            raise ConfigError(
                f"the guard's Redis state store failed ({type(exc).__name__})"
            ) from None

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        k = self._k(key)
        return int(self._call(lambda: self._incr(keys=[k], args=[amount, _ms(ttl_s)])))

    def get(self, key: str) -> bytes | None:
        k = self._k(key)
        return cast(bytes | None, self._call(lambda: self._redis.get(k)))

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        k, v = self._k(key), _value(value)
        px = _ms(ttl_s) or None
        self._call(lambda: self._redis.set(k, v, px=px))

    def push_bounded(self, key: str, value: bytes, maxlen: int, ttl_s: float | None = None) -> None:
        if not 1 <= maxlen <= MAX_LIST:
            raise InputError(f"maxlen: expected 1-{MAX_LIST}")
        k, v = self._k(key), _value(value)
        self._call(lambda: self._push(keys=[k], args=[v, maxlen, _ms(ttl_s)]))

    def items(self, key: str) -> list[bytes]:
        k = self._k(key)
        return list(cast(list[bytes], self._call(lambda: self._redis.lrange(k, 0, -1))))

    def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> BucketResult:
        k = self._k(key)
        ttl = _ms(_bucket_ttl(rate, burst))
        allowed, left, wait = self._call(
            lambda: self._take(keys=[k], args=[repr(rate), repr(burst), repr(cost), ttl])
        )
        w = float(wait)
        return BucketResult(bool(int(allowed)), float(left), math.inf if w < 0 else w)

    def revoke(self, token_id: str, ttl_s: float) -> None:
        self.set("revoked:" + token_id, b"1", ttl_s)

    def is_revoked(self, token_id: str) -> bool:
        return self.get("revoked:" + token_id) is not None

    def ping(self) -> None:
        self._call(self._redis.ping)

    def close(self) -> None:
        self._redis.close()


def open_state_store(
    url: str | None = None, *, namespace: str | None = None
) -> MemoryStateStore | RedisStateStore:
    """Redis at ``url`` (or ``BASTION_REDIS_URL``), checked with a ping; in process without.
    ``namespace`` (the guard's name) keeps one guard's replicas apart from another guard's."""
    url = url or os.environ.get("BASTION_REDIS_URL") or None
    if not url:
        return MemoryStateStore()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("BASTION_REDIS_URL: expected redis://, rediss:// or unix://")
    store = RedisStateStore(url, prefix=PREFIX + (f"{namespace}:" if namespace else ""))
    store.ping()
    return store
