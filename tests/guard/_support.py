"""Real servers and a small real authorizer for the guard's tests.

``Server`` runs an ASGI app under uvicorn on 127.0.0.1 in a thread (the guard and the
upstreams it fronts are real HTTP servers in these tests). ``RoleAuthorizer`` is a real
Authorizer configured per test: endpoint -> roles allowed, with obligations per role.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from bastion.access.interface import Action, Decision, Identity, Obligations, ResourceRef

__all__ = ["RoleAuthorizer", "Server", "free_port", "guard_yaml", "upstream_app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, app: Any, *, port: int | None = None, **kwargs: Any) -> None:
        self.port = port or free_port()
        self.config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                     lifespan="on", timeout_graceful_shutdown=1, **kwargs)  # fmt: skip
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.config.ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


async def upstream_app(scope: Any, receive: Any, send: Any) -> None:
    """A trivial model server: ``/predict`` answers a label, scores and a sensitive field;
    ``/hang`` never answers in time; ``/fail`` answers 500; ``/chat`` an LLM completion."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    path = scope["path"]
    status = 200
    out: dict[str, Any]
    if path == "/hang":
        await asyncio.sleep(5)
    if path == "/fail":
        status, out = 500, {"error": "boom"}
    elif path == "/chat":
        req = json.loads(body or b"{}")
        last = req.get("messages", [{}])[-1].get("content", "")
        out = {"choices": [{"message": {"role": "assistant", "content": f"echo: {last}"}}]}
    else:
        req = json.loads(body or b"{}")
        out = {"label": 1, "probability": [0.2, 0.8], "ssn": "078-05-1120",
               "seen": sorted(req.get("features", {}))}  # fmt: skip
    data = json.dumps(out).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": data})


class RoleAuthorizer:
    """Allow ``invoke`` on an endpoint to the roles listed for it; obligations per role."""

    def __init__(
        self,
        allow: Mapping[str, set[str]],
        obligations: Mapping[str, Obligations] | None = None,
    ) -> None:
        self.allow = allow
        self.obligations = dict(obligations or {})
        self.calls = 0

    def decide(
        self,
        identity: Identity,
        action: Action,
        resource: ResourceRef,
        context: Mapping[str, object] | None = None,
    ) -> Decision:
        self.calls += 1
        roles = self.allow.get(resource.id, set())
        hit = sorted(identity.roles & roles)
        if not hit:
            return Decision(False, policies=("role-not-allowed",),
                            reasons=(f"{identity.id} may not {action.value} {resource.id}",))  # fmt: skip
        return Decision(True, policies=(f"allow-{hit[0]}",),
                        obligations=self.obligations.get(hit[0], Obligations()))  # fmt: skip


def guard_yaml(
    path: Path,
    upstream: str,
    *,
    extra: str = "",
    endpoint_extra: str = "",
    rate: str = "rate_per_s: 1000\n    burst: 1000",
    limits: str = "",
) -> Path:
    """A guard config for one tabular endpoint ``credit`` in front of ``upstream``."""
    host, _, port = upstream.split("//", 1)[1].split("/", 1)[0].partition(":")
    (path / "train.csv").write_text(
        "income,age,debt\n"
        + "".join(f"{1000 + 10 * i},{20 + i % 50},{i % 7}\n" for i in range(200))
    )
    text = f"""
name: test-guard
endpoints:
  - name: credit
    upstream: {upstream}/predict
    model: credit-gbm@1
    features: [income, age, debt]
    reference: train.csv
    timeout_s: 1.0
    request_schema:
      type: object
      required: [features]
      properties:
        features:
          type: object
          required: [income, age, debt]
{endpoint_extra}
rate_classes:
  default:
    {rate}
egress:
  - host: {host}
    port: {port}
{limits}
{extra}
"""
    p = path / "guard.yaml"
    p.write_text(text)
    return p


STAGING_POLICY = """
apiVersion: bastion/v1
kind: GatePolicy
default_tier: 1
tiers:
  1:
    stages:
      staging:
        evidence:
          - kind: integrity.signature
            title: signature verifies
"""

CEDAR = """
@id("engineers-invoke")
@reason("engineers call the endpoints")
permit (principal is User, action == Action::"invoke", resource is Endpoint)
when { principal.roles.contains("engineer") };
"""


def fronted_model(ws: Any, root: Path, name: str = "credit-gbm") -> Any:
    """A registered version, signed and verified (real PKI), promoted to staging through a
    real gate: what the guard's start-up check accepts."""
    from bastion.registry import parse_policy, promote, register_model, set_policy
    from tests.registry._helpers import model_dir, sign_and_verify

    set_policy(ws, parse_policy(STAGING_POLICY), actor="test")
    path = model_dir(root, name.encode())
    v = register_model(ws, name, path, tier=1, actor="dana")
    sign_and_verify(ws, path, f"credit-scoring/{name}")
    assert promote(ws, name, v.version, "staging", actor="dana").promoted
    return v


def policy_dir(root: Path) -> Path:
    d = root / "policies"
    d.mkdir(exist_ok=True)
    (d / "policies.cedar").write_text(CEDAR)
    return d
