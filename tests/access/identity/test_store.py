"""The jti cache: the in-process LRU with TTL, and Redis shared by replicas."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bastion.access.identity import MemoryJtiStore, RedisJtiStore, TokenService, open_jti_store
from bastion.access.interface import CredentialError
from bastion.core.workspace import Workspace

from .conftest import REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_memory_store_ttl_and_lru_bound() -> None:
    clock = Clock()
    s = MemoryJtiStore(max_entries=3, clock=clock)
    assert s.consume("a", 1010) and not s.consume("a", 1010)
    clock.t = 1011  # past its expiry: a new token could reuse nothing, the id is forgotten
    assert s.consume("a", 1100)
    for k in ("b", "c", "d"):
        assert s.consume(k, 1100)
    assert s.consume("a", 1100)  # evicted as the least recently used beyond 3 entries
    s.revoke("r", 1050)
    assert s.is_revoked("r")
    clock.t = 1051
    assert not s.is_revoked("r")


def test_redis_store_is_shared_between_replicas(redis_prefix: str) -> None:
    one = RedisJtiStore(REDIS_URL, prefix=redis_prefix)
    two = RedisJtiStore(REDIS_URL, prefix=redis_prefix)  # another replica, same Redis
    exp = time.time() + 60
    assert one.consume("j1", exp)
    assert not two.consume("j1", exp)  # a replay on the other replica
    assert not two.is_revoked("j2")
    one.revoke("j2", exp)
    assert two.is_revoked("j2")
    import redis

    ttl = redis.Redis.from_url(REDIS_URL).ttl(redis_prefix + "revoked:j2")
    assert 0 < ttl <= 62  # expires with the token, not kept forever


def test_redis_down_fails_closed() -> None:
    s = RedisJtiStore("redis://127.0.0.1:1/0", timeout=0.2)
    with pytest.raises(CredentialError, match="unavailable"):
        s.is_revoked("x")


def test_token_revocation_holds_across_two_services_on_redis(
    sqlite_ws: Workspace, redis_prefix: str
) -> None:
    a = TokenService(sqlite_ws, store=RedisJtiStore(REDIS_URL, prefix=redis_prefix))
    b = TokenService(sqlite_ws, store=RedisJtiStore(REDIS_URL, prefix=redis_prefix))
    t = a.issue("workload:scorer", audience="api")
    assert b.verify(t.token, "api", single_use=True).id == "workload:scorer"
    with pytest.raises(CredentialError, match="replay"):
        a.verify(t.token, "api", single_use=True)
    t2 = a.issue("workload:scorer", audience="api")
    a.revoke(t2.jti, expires_at=t2.expires_at)
    with pytest.raises(CredentialError, match="revoked"):
        b.verify(t2.token, "api")


def test_open_jti_store_picks_redis_when_configured(sqlite_ws: Workspace) -> None:
    assert isinstance(open_jti_store(sqlite_ws), MemoryJtiStore)
    ws = replace(sqlite_ws, settings=sqlite_ws.settings.model_copy(update={"redis_url": REDIS_URL}))
    assert isinstance(open_jti_store(ws), RedisJtiStore)
