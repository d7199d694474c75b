"""The guard as a reverse proxy: real uvicorn servers for the guard and the upstream."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx

from bastion.access import revoke_token
from bastion.access.interface import LogLevel, Obligations
from bastion.guard import BreakerState
from bastion.guard.interface import GuardRequest, StageResult, Verdict
from tests.guard.conftest import OK_BODY, Env


def test_allowed_call_is_forwarded_audited_and_ledgered(make_env: Callable[..., Env]) -> None:
    env = make_env()
    r = env.post(OK_BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"] == 1
    assert body["seen"] == ["age", "debt", "income"]  # the body reached the upstream
    rid = r.headers["x-request-id"]
    (api,) = [e for e in env.events_of(6003) if e["api"]["request"]["uid"] == rid]
    assert api["status_id"] == 1
    assert api["actor"]["user"]["name"] == "token:alice"
    assert api["ai"]["input"]["mode"] == "hash"  # inputs are keyed hashes, never raw
    assert "1500" not in str(api["ai"]["input"])
    decisions = env.ws.ledger.entries(kind="guard.decision", newest_first=True, limit=10)
    (d,) = [e.data for e in decisions if e.data["request_id"] == rid]
    assert d["decision"] == "allow"
    assert d["policies"] == ["allow-engineer"]
    assert d["principal"] == "token:alice"


def test_denied_answers_403_with_the_reason_id_only(make_env: Callable[..., Env]) -> None:
    env = make_env()
    r = env.post(OK_BODY, who="bob")
    assert r.status_code == 403
    assert r.json() == {"error": "role-not-allowed", "status": 403}
    env.guard.audit.flush()  # type: ignore[union-attr]
    (d,) = [e.data for e in env.ws.ledger.entries(kind="guard.decision", limit=10)]
    assert d["decision"] == "deny"
    assert d["reason"] == "role-not-allowed"
    assert "may not invoke" in d["detail"]  # the detail is for the audit, not the caller
    (api,) = env.events_of(6003)
    assert api["status_id"] == 2
    assert api["status_detail"] == "role-not-allowed"


def test_bad_credentials_401_and_anonymous_is_denied(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.tokens["forged"] = "bst_" + "0" * 12 + "_" + "x" * 40
    r = env.post(OK_BODY, who="forged")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid-credentials"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = env.post(OK_BODY, who=None)
    assert r.status_code == 403  # anonymous: authenticated as nobody, and no policy allows it


def test_revoked_token_refused_at_once(make_env: Callable[..., Env]) -> None:
    env = make_env()
    assert env.post(OK_BODY).status_code == 200
    revoke_token(env.ws, env.token_ids["alice"], actor="test")
    assert env.post(OK_BODY).status_code == 401
    # a revocation through the shared store (what a replica sees) holds as well
    assert env.post(OK_BODY, who="sec").status_code == 200
    env.guard.revoke(env.token_ids["sec"])
    assert env.post(OK_BODY, who="sec").status_code == 401


def test_malformed_schema_and_range(make_env: Callable[..., Env]) -> None:
    env = make_env()
    r = env.post(raw=b'{"features": {"income": 1')
    assert (r.status_code, r.json()["error"]) == (400, "malformed-json")
    r = env.post(raw=b"[1, 2]")
    assert r.status_code == 400
    r = env.post({"features": {"income": 1500, "age": 30}})
    assert (r.status_code, r.json()["error"]) == (422, "schema")
    r = env.post({"features": {"income": 1500, "age": "thirty", "debt": 1}})
    assert r.status_code == 422
    r = env.post({"features": {"income": 10**9, "age": 30, "debt": 2}})
    assert (r.status_code, r.json()["error"]) == (422, "out-of-range")
    r = env.post({"features": {"income": 1500, "age": 30, "debt": 2}})
    assert r.status_code == 200
    deep = b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert env.post(raw=deep).status_code in (400, 413)
    assert httpx.get(f"{env.url}/healthz").status_code == 200  # the guard stays up


def test_oversized_body_413_declared_and_streamed(make_env: Callable[..., Env]) -> None:
    env = make_env(limits="limits:\n  max_body_bytes: 2048")
    r = env.post(raw=b'{"features": {"pad": "' + b"x" * 5000 + b'"}}')
    assert (r.status_code, r.json()["error"]) == (413, "body-too-large")

    def chunks() -> object:
        for _ in range(100):
            yield b"x" * 1024

    r = httpx.post(f"{env.url}/endpoints/credit", content=chunks(),  # type: ignore[arg-type]
                   headers={"authorization": f"Bearer {env.tokens['alice']}"})  # fmt: skip
    assert r.status_code == 413


def test_slow_loris_body_times_out_and_the_guard_stays_up(make_env: Callable[..., Env]) -> None:
    env = make_env(limits="limits:\n  body_timeout_s: 0.5")
    port = int(env.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"POST /endpoints/credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + env.tokens["alice"].encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"feat'
        )
        t0 = time.monotonic()
        got = s.recv(4096)
        waited = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408")
    assert waited < 4  # refused after the body timeout, not the client's pace
    assert env.post(OK_BODY).status_code == 200


def test_upstream_hang_504_then_breaker_opens_with_fallback(make_env: Callable[..., Env]) -> None:
    extra = (
        "    breaker:\n      failures: 2\n      reset_after_s: 60\n"
        "    fallback:\n      status: 200\n      body: {label: review, fallback: true}\n"
    )
    env = make_env(endpoint_extra=extra)
    ep = env.guard.pipeline.endpoints["credit"]
    object.__setattr__(ep, "config", ep.config.model_copy(update={
        "upstream": ep.config.upstream.replace("/predict", "/hang"), "timeout_s": 0.3}))  # fmt: skip
    r1 = env.post(OK_BODY)
    assert r1.status_code == 200 and r1.headers["x-bastion-fallback"] == "upstream-timeout"
    env.post(OK_BODY)
    assert ep.breaker.state is BreakerState.OPEN
    t0 = time.monotonic()
    r3 = env.post(OK_BODY)
    assert time.monotonic() - t0 < 0.25  # refused at once, without waiting for the upstream
    assert r3.json() == {"label": "review", "fallback": True}
    assert r3.headers["x-bastion-fallback"] == "upstream-unavailable"
    env.guard.audit.flush()  # type: ignore[union-attr]
    reasons = [e.data["reason"] for e in env.ws.ledger.entries(kind="guard.decision", limit=10)]
    assert reasons == ["upstream-timeout", "upstream-timeout", "upstream-unavailable"]


def test_upstream_hang_without_fallback_is_504(make_env: Callable[..., Env]) -> None:
    env = make_env()
    ep = env.guard.pipeline.endpoints["credit"]
    object.__setattr__(ep, "config", ep.config.model_copy(update={
        "upstream": ep.config.upstream.replace("/predict", "/hang"), "timeout_s": 0.3}))  # fmt: skip
    r = env.post(OK_BODY)
    assert (r.status_code, r.json()["error"]) == (504, "upstream-timeout")
    object.__setattr__(ep, "config", ep.config.model_copy(update={
        "upstream": ep.config.upstream.replace("/hang", "/fail")}))  # fmt: skip
    r = env.post(OK_BODY)
    assert (r.status_code, r.json()["error"]) == (502, "upstream-error")


def test_rate_limit_429_with_retry_after(make_env: Callable[..., Env]) -> None:
    env = make_env(rate="rate_per_s: 0.5\n    burst: 3")
    codes = [env.post(OK_BODY).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = env.post(OK_BODY)
    assert int(r.headers["retry-after"]) >= 1
    assert env.post(OK_BODY, who="sec").status_code == 200  # per client


def test_quota_per_day(make_env: Callable[..., Env]) -> None:
    env = make_env(rate="rate_per_s: 100\n    burst: 100\n    quota_per_day: 2")
    codes = [env.post(OK_BODY).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert env.post(OK_BODY).json()["error"] == "quota-exceeded"


def test_obligations_redact_and_coarsen(make_env: Callable[..., Env]) -> None:
    env = make_env(obligations={
        "engineer": Obligations(redact_fields=frozenset({"ssn"})),
        "security": Obligations(coarsen_scores=True, log_level=LogLevel.MINIMAL),
    })  # fmt: skip
    a = env.post(OK_BODY).json()
    assert "ssn" not in a and a["probability"] == [0.2, 0.8]
    s = env.post(OK_BODY, who="sec").json()
    assert "probability" not in s and s["label"] == 1 and s["ssn"] == "078-05-1120"
    apis = env.events_of(6003)
    assert apis[0]["ai"]["obligations"] == ["redact:ssn"]
    assert apis[1]["ai"]["obligations"] == ["coarsen"]


class _Fixed:
    def __init__(self, name: str, verdict: Verdict) -> None:
        self.name, self.verdict, self.seen = name, verdict, []  # type: ignore[var-annotated]

    def inspect(self, request: GuardRequest) -> StageResult:
        self.seen.append(request)
        return StageResult(self.name, self.verdict, 0.9, ("scripted",), ("AML.T0024.002",))


def test_detector_verdicts_block_coarsen_and_findings(make_env: Callable[..., Env]) -> None:
    det = _Fixed("probe", Verdict.COARSEN)
    env = make_env(detectors={"credit": [det]})
    r = env.post(OK_BODY)
    assert r.status_code == 200 and "probability" not in r.json()
    (req,) = det.seen
    assert req.features == (1500.0, 30.0, 2.0)  # in the model's feature order
    assert req.client_id == "token:alice"
    det.verdict = Verdict.BLOCK
    r = env.post(OK_BODY)
    assert (r.status_code, r.json()["error"]) == (403, "detector:probe")
    every = env.events_of(2004)
    findings = [f for f in every if f["finding_info"]["analytic"]["name"] == "probe"]
    assert len(findings) == 2
    # the monitor room's real-time rules re-raise the extraction report once (deduped)
    (rule,) = [f for f in every if f not in findings]
    assert rule["finding_info"]["analytic"]["name"].startswith("bastion.detect.")
    assert findings[1]["finding_info"]["attacks"][0]["technique"]["uid"] == "AML.T0024.002"
    assert findings[1]["severity_id"] >= 4


class _Broken:
    name = "broken"

    def inspect(self, request: GuardRequest) -> StageResult:
        raise RuntimeError("bug")


def test_a_failing_detector_blocks(make_env: Callable[..., Env]) -> None:
    env = make_env(detectors={"credit": [_Broken()]})
    r = env.post(OK_BODY)
    assert (r.status_code, r.json()["error"]) == (403, "detector:broken")


def test_load_shedding_by_priority_without_a_queue(make_env: Callable[..., Env]) -> None:
    env = make_env(limits="limits:\n  max_concurrency: 10\n  bulk_share: 0.5\n  normal_share: 0.8")
    p = env.guard.pipeline
    from bastion.guard import Priority

    held = 0
    while p.try_enter(Priority.BULK):
        held += 1
    assert held == 5  # bulk (admin, export) is refused first
    while p.try_enter(Priority.NORMAL):
        held += 1
    assert held == 8
    r = env.post(OK_BODY)  # a normal endpoint at its share: refused at once
    assert (r.status_code, r.json()["error"]) == (503, "overloaded")
    assert r.headers["retry-after"] == "1"
    assert p.try_enter(Priority.CRITICAL)  # critical calls may still use the rest
    for _ in range(held + 1):
        p.leave()
    assert env.post(OK_BODY).status_code == 200


def test_unknown_endpoint_and_method(make_env: Callable[..., Env]) -> None:
    env = make_env()
    assert env.post(OK_BODY, endpoint="nope").status_code == 404
    assert httpx.get(f"{env.url}/endpoints/credit").status_code == 405


def test_shared_state_down_fails_closed(make_env: Callable[..., Env]) -> None:
    from bastion.guard import RedisStateStore

    env = make_env(store=RedisStateStore("redis://127.0.0.1:1/0", timeout_s=0.2))
    r = env.post(OK_BODY)
    assert (r.status_code, r.json()["error"]) == (503, "state-unavailable")
    assert httpx.get(f"{env.url}/healthz").status_code == 200
