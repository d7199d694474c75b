from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.access import create_token
from bastion.access.interface import Obligations
from bastion.core.workspace import Workspace
from bastion.guard import ApiTokenAuthenticator, Guard, build_guard, load_guard_config
from tests.guard._support import RoleAuthorizer, Server, guard_yaml, upstream_app


@pytest.fixture(scope="module")
def upstream() -> Iterator[Server]:
    with Server(upstream_app) as s:
        yield s


@dataclass
class Env:
    ws: Workspace
    guard: Guard
    url: str
    tokens: dict[str, str]
    token_ids: dict[str, str]
    authorizer: RoleAuthorizer
    events: Path

    def post(self, body: Any = None, *, who: str | None = "alice", raw: bytes | None = None,
             endpoint: str = "credit", **kw: Any) -> httpx.Response:  # fmt: skip
        headers = {"content-type": "application/json"}
        if who is not None:
            headers["authorization"] = f"Bearer {self.tokens[who]}"
        content = raw if raw is not None else httpx.Request("POST", "/", json=body).content
        return httpx.post(f"{self.url}/endpoints/{endpoint}", content=content, headers=headers,
                          timeout=10, **kw)  # fmt: skip

    def events_of(self, class_uid: int) -> list[dict[str, Any]]:
        import json

        self.guard.audit.flush()  # type: ignore[union-attr]
        if not self.events.exists():
            return []
        docs = [json.loads(line) for line in self.events.read_text().splitlines() if line]
        return [d for d in docs if d.get("class_uid") == class_uid]


OK_BODY = {"features": {"income": 1500, "age": 30, "debt": 2}}


@pytest.fixture
def make_env(
    sqlite_ws: Workspace, upstream: Server, tmp_path: Path
) -> Iterator[Callable[..., Env]]:
    stack = ExitStack()

    def make(
        *,
        endpoint_extra: str = "",
        rate: str = "rate_per_s: 1000\n    burst: 1000",
        limits: str = "",
        obligations: dict[str, Obligations] | None = None,
        detectors: dict[str, Any] | None = None,
        filters: dict[str, Any] | None = None,
        store: Any = None,
        extra: str = "",
    ) -> Env:
        events = tmp_path / "events.jsonl"
        sink = f"sinks:\n  - kind: file\n    target: {events}\n"
        path = guard_yaml(tmp_path, upstream.url, endpoint_extra=endpoint_extra, rate=rate,
                          limits=limits, extra=sink + extra)  # fmt: skip
        config, base = load_guard_config(path)
        authz = RoleAuthorizer({"credit": {"engineer", "security"}, "chat": {"engineer"},
                                "export": {"engineer"}}, obligations)  # fmt: skip
        guard = build_guard(
            sqlite_ws, config, base, authenticator=ApiTokenAuthenticator(sqlite_ws),
            authorizer=authz, detectors=detectors, filters=filters, store=store,
            verify_models=False, actor="test",
        )  # fmt: skip
        stack.callback(guard.close)
        server = stack.enter_context(Server(guard.proxy))
        tokens, ids = {}, {}
        for who, role in (("alice", "engineer"), ("bob", "viewer"), ("sec", "security")):
            t = create_token(sqlite_ws, name=who, role=role, actor="test")
            tokens[who], ids[who] = t.token, t.info.id
        return Env(sqlite_ws, guard, server.url, tokens, ids, authz, events)

    yield make
    stack.close()
