"""Fixtures of the identity tests: a workspace with the workspace PKI, a real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from bastion.core.workspace import Workspace
from bastion.integrity.signing import pki_init

REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def pki_ws(sqlite_ws: Workspace) -> Workspace:
    """A workspace whose PKI (root + intermediate CA) exists."""
    pki_init(sqlite_ws.settings.key_dir)
    return sqlite_ws


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of its own on the local Redis (required: fails when it is down)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for this test and is unreachable at {REDIS_URL}: {exc}")
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
