"""Section 7: two real `bastion guard run` processes against one Redis share rate-limit
counters and revocations; both audit to the one ledger (group commit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bastion.access import create_token
from bastion.core.workspace import Workspace
from tests._cli import Run
from tests.guard._support import Server, free_port, fronted_model, policy_dir, upstream_app

REDIS = "redis://127.0.0.1:6379/12"
BODY = {"features": {"income": 1500, "age": 30, "debt": 2}}


def _config(root: Path, upstream: str, name: str) -> Path:
    port = upstream.rsplit(":", 1)[1]
    policy_dir(root)
    p = root / "guard.yaml"
    p.write_text(f"""
name: {name}
policy_dir: policies
endpoints:
  - name: credit
    upstream: {upstream}/predict
    model: credit-gbm@1
    require_stage: staging
    features: [income, age, debt]
    attributes: {{classification: internal, owner: ml, tier: 2, asset_kind: inference_endpoint}}
rate_classes:
  default: {{rate_per_s: 0.01, burst: 4}}
egress:
  - {{host: 127.0.0.1, port: {port}}}
""")
    return p


@pytest.fixture
def replicas(sqlite_ws: Workspace, tmp_path: Path) -> Iterator[tuple[list[str], Path, Workspace]]:
    import redis

    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError as exc:  # the service is required: fail, do not skip
        pytest.fail(f"Redis is required for this test: {exc}")
    fronted_model(sqlite_ws, tmp_path)
    with Server(upstream_app) as up:
        cfg = _config(tmp_path, up.url, f"replica-{uuid.uuid4().hex[:8]}")
        env = {**os.environ, "BASTION_REDIS_URL": REDIS}
        procs, urls = [], []
        for i in range(2):
            port = free_port()
            env_i = {**env, "BASTION_GUARD_REPLICA": str(i)}
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "bastion.cli.main", "--home", str(sqlite_ws.settings.home),
                 "guard", "run", str(cfg), "--port", str(port)],
                env=env_i, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            ))  # fmt: skip
            urls.append(f"http://127.0.0.1:{port}")
        try:
            deadline = (
                time.monotonic() + 180
            )  # readiness, not speed: a loaded 2-core CI box is slow
            for p, u in zip(procs, urls, strict=True):
                while True:
                    if p.poll() is not None:
                        out = p.stdout.read().decode() if p.stdout else ""
                        pytest.fail(f"a guard replica exited: {out[-2000:]}")
                    try:
                        if httpx.get(f"{u}/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail("a guard replica did not start")
                    time.sleep(0.1)
            yield urls, cfg, sqlite_ws
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


@pytest.mark.redis
@pytest.mark.slow
def test_two_replicas_share_limits_and_revocations(
    replicas: tuple[list[str], Path, Workspace], capsys: pytest.CaptureFixture[str]
) -> None:
    (a, b), cfg, ws = replicas
    alice = create_token(ws, name="alice", role="engineer", actor="test")
    carol = create_token(ws, name="carol", role="engineer", actor="test")

    def call(url: str, token: str) -> int:
        h = {"authorization": f"Bearer {token}"}
        return httpx.post(f"{url}/endpoints/credit", json=BODY, headers=h, timeout=10).status_code

    # burst 4 per client, shared: alternating replicas, the fifth call is refused on either
    codes = [call(u, alice.token) for u in (a, b, a, b, a, b)]
    assert codes == [200, 200, 200, 200, 429, 429]

    # a revocation through the CLI reaches both replicas at once
    assert call(a, carol.token) == 200 and call(b, carol.token) == 200
    os.environ["BASTION_REDIS_URL"] = REDIS
    try:
        run = Run(ws.settings.home, capsys)
        rc, out, err = run("guard", "revoke", str(cfg), carol.info.id)
    finally:
        del os.environ["BASTION_REDIS_URL"]
    assert rc == 0, out + err
    assert call(a, carol.token) == 401 and call(b, carol.token) == 401

    # both replicas audit to the one ledger
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rc, out, err = run("guard", "decisions", "--limit", "20", "--format", "json")

        rows = json.loads(out)
        if len(rows) >= 10:
            break
        time.sleep(0.2)
    assert len(rows) == 10  # 6 of alice, 4 of carol
    assert sorted(r["status"] for r in rows).count(429) == 2
    assert sum(1 for r in rows if r["status"] == 401) == 2
    kinds = [e.kind for e in ws.ledger.entries(kind="guard.revocation", limit=5)]
    assert kinds == ["guard.revocation"]
