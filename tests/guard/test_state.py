"""Both state stores: the in-process one and Redis (a real server at 127.0.0.1:6379)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from bastion.core.errors import ConfigError, InputError
from bastion.guard import MemoryStateStore, RedisStateStore, open_state_store

REDIS = "redis://127.0.0.1:6379/14"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[MemoryStateStore | RedisStateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    s = RedisStateStore(REDIS, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        s.ping()
    except ConfigError as exc:  # the service is required: fail, do not skip
        pytest.fail(f"Redis is required for this test: {exc}")
    yield s
    s.close()


def test_counters_blobs_and_lists(store: MemoryStateStore | RedisStateStore) -> None:
    assert store.incr("c") == 1
    assert store.incr("c", 4) == 5
    assert store.get("missing") is None
    store.set("b", b"\x00blob")
    assert store.get("b") == b"\x00blob"
    for i in range(5):
        store.push_bounded("l", str(i).encode(), maxlen=3)
    assert store.items("l") == [b"2", b"3", b"4"]
    assert store.items("none") == []
    with pytest.raises(InputError):
        store.set("big", b"x" * (64 * 1024 + 1))
    with pytest.raises(InputError):
        store.get("")


def test_expiry(store: MemoryStateStore | RedisStateStore) -> None:
    store.set("t", b"1", ttl_s=0.2)
    store.incr("n", ttl_s=0.2)
    assert store.get("t") == b"1"
    time.sleep(0.35)
    assert store.get("t") is None
    assert store.incr("n") == 1  # the window expired: counting starts again


def test_token_bucket(store: MemoryStateStore | RedisStateStore) -> None:
    got = [store.take("bucket", rate=1.0, burst=3).allowed for _ in range(5)]
    assert got == [True, True, True, False, False]
    r = store.take("bucket", rate=1.0, burst=3)
    assert not r.allowed and 0 < r.retry_after_s <= 1.0
    time.sleep(1.1)
    assert store.take("bucket", rate=1.0, burst=3).allowed  # refilled at the rate
    assert not store.take("other", rate=1.0, burst=2, cost=4).allowed  # cost over the burst


def test_bucket_is_atomic_under_threads(store: MemoryStateStore | RedisStateStore) -> None:
    allowed: list[bool] = []

    def worker() -> None:
        allowed.extend(store.take("shared", rate=0.001, burst=40).allowed for _ in range(25))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 40  # exactly the burst, never more


def test_revocations(store: MemoryStateStore | RedisStateStore) -> None:
    assert not store.is_revoked("tok1")
    store.revoke("tok1", ttl_s=60)
    assert store.is_revoked("tok1")


def test_open_state_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASTION_REDIS_URL", raising=False)
    assert isinstance(open_state_store(), MemoryStateStore)
    with pytest.raises(ConfigError, match="expected redis://"):
        open_state_store("http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="Redis state store failed"):
        open_state_store("redis://127.0.0.1:1/0")  # nothing listens: refused at start-up


@pytest.mark.redis
def test_open_state_store_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_REDIS_URL", REDIS)
    s = open_state_store()
    assert isinstance(s, RedisStateStore)
    s.close()
