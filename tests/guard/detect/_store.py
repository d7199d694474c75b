"""A dict-backed StateStore for the detector tests (expiry by a clock the test controls)."""

from __future__ import annotations

from collections import deque


class DictStore:
    def __init__(self) -> None:
        self.now = 0.0
        self._v: dict[str, tuple[bytes | int | deque[bytes], float | None]] = {}

    def _live(self, key: str) -> bytes | int | deque[bytes] | None:
        got = self._v.get(key)
        if got is None:
            return None
        value, expires = got
        if expires is not None and expires <= self.now:
            del self._v[key]
            return None
        return value

    def _exp(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self.now + ttl_s

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        cur = self._live(key)
        n = (cur if isinstance(cur, int) else 0) + amount
        self._v[key] = (n, self._exp(ttl_s))
        return n

    def get(self, key: str) -> bytes | None:
        v = self._live(key)
        return v if isinstance(v, bytes) else None

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._v[key] = (value, self._exp(ttl_s))

    def push_bounded(self, key: str, value: bytes, maxlen: int, ttl_s: float | None = None) -> None:
        cur = self._live(key)
        d = cur if isinstance(cur, deque) else deque(maxlen=maxlen)
        d.append(value)
        self._v[key] = (d, self._exp(ttl_s))

    def items(self, key: str) -> list[bytes]:
        v = self._live(key)
        return list(v) if isinstance(v, deque) else []

    def names(self) -> list[str]:
        return list(self._v)
