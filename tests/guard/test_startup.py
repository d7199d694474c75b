"""The start-up check against real registry versions, real signatures and a real gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.core.workspace import Workspace
from bastion.guard import UnverifiedModelError, build_guard, check_model, parse_guard_config
from bastion.registry import parse_policy, promote, register_model, set_policy
from tests.guard._support import RoleAuthorizer
from tests.registry._helpers import model_dir, sign_and_verify

POLICY = """
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


def _config(model: str) -> str:
    return f"""
name: startup
endpoints:
  - name: scorer
    upstream: http://127.0.0.1:9/predict
    model: {model}
    require_stage: staging
    features: [a]
egress: [{{host: 127.0.0.1, port: 9}}]
"""


def test_refuses_unregistered_unsigned_and_ungated_versions(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    set_policy(ws, parse_policy(POLICY), actor="test")
    ep = parse_guard_config(_config("scorer@1")).endpoints[0]
    res = check_model(ws, ep)
    assert not res.ok and res.reasons == ("scorer@1 is not registered",)

    path = model_dir(tmp_path, b"weights-signed")
    v = register_model(ws, "scorer", path, tier=1, actor="dana")
    res = check_model(ws, ep)
    assert not res.ok
    assert any("no integrity.signature evidence" in r for r in res.reasons)
    assert any("not staging" in r for r in res.reasons)

    ev = sign_and_verify(ws, path, "credit-scoring/scorer")
    assert promote(ws, "scorer", v.version, "staging", actor="dana").promoted
    res = check_model(ws, ep)
    assert res.ok, res.reasons
    assert res.digest == v.digest and res.signature_evidence == ev.id

    # a second version registered but never signed nor promoted: the guard will not front it
    register_model(ws, "scorer", model_dir(tmp_path, b"weights-unsigned"), tier=1, actor="dana")
    config = parse_guard_config(_config("scorer@2"))
    with pytest.raises(UnverifiedModelError, match="refusing to front scorer@2"):
        build_guard(ws, config, tmp_path, authorizer=RoleAuthorizer({}))
    guard = build_guard(ws, parse_guard_config(_config("scorer@1")), tmp_path,
                        authorizer=RoleAuthorizer({}))  # fmt: skip
    assert guard.digests == {"scorer": v.digest}
    guard.close()


def test_production_config_fails_closed_without_an_authorizer(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    from bastion.core.errors import ConfigError

    config = parse_guard_config(_config("scorer@1"))
    with pytest.raises(ConfigError, match="no authorizer"):
        build_guard(sqlite_ws, config, tmp_path, verify_models=False)
