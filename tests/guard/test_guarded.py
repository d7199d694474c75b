"""The same pipeline in process, around a Python model object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bastion.access import create_token
from bastion.access.interface import Obligations, RequestCredentials
from bastion.core.workspace import Workspace
from bastion.guard import ApiTokenAuthenticator, GuardRefused, build_guard, load_guard_config
from tests.guard._support import RoleAuthorizer, guard_yaml


class Model:
    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, x: Any) -> Any:
        self.calls += 1
        assert x.shape == (1, 3)
        return np.array([[0.3, 0.7]])


def test_guarded_model(sqlite_ws: Workspace, tmp_path: Path) -> None:
    config, base = load_guard_config(
        guard_yaml(tmp_path, "http://127.0.0.1:9", rate="rate_per_s: 0.01\n    burst: 3")
    )
    authz = RoleAuthorizer({"credit": {"engineer", "security"}},
                           {"security": Obligations(coarsen_scores=True)})  # fmt: skip
    guard = build_guard(sqlite_ws, config, base, authenticator=ApiTokenAuthenticator(sqlite_ws),
                        authorizer=authz, verify_models=False)  # fmt: skip
    guard.audit.start()  # type: ignore[union-attr]
    model = Model()
    gm = guard.wrap(model, "credit")
    alice = RequestCredentials(bearer=create_token(sqlite_ws, name="alice", role="engineer").token)
    sec = RequestCredentials(bearer=create_token(sqlite_ws, name="sec", role="security").token)
    bob = RequestCredentials(bearer=create_token(sqlite_ws, name="bob", role="viewer").token)
    row = {"income": 1500, "age": 30, "debt": 2}
    assert gm.predict(row, credentials=alice) == {"label": 1, "probability": [0.3, 0.7]}
    assert gm.predict(row, credentials=sec) == {"label": 1}  # coarsened to the label
    with pytest.raises(GuardRefused) as e:
        gm.predict(row, credentials=bob)
    assert (e.value.status, e.value.reason) == (403, "role-not-allowed")
    with pytest.raises(GuardRefused) as e:
        gm.predict({"income": 1500, "age": 30}, credentials=alice)
    assert e.value.status == 422
    with pytest.raises(GuardRefused) as e:
        gm.predict({"income": -(10**9), "age": 30, "debt": 2}, credentials=alice)
    assert e.value.reason == "out-of-range"
    with pytest.raises(GuardRefused) as e:
        gm.predict(row, credentials=RequestCredentials(bearer="bst_nope"))
    assert e.value.status == 401
    gm.predict(row, credentials=alice)  # refused requests spent no tokens: 2 of 3 so far
    gm.predict(row, credentials=alice)
    with pytest.raises(GuardRefused) as e:
        gm.predict(row, credentials=alice)  # burst of 3 spent
    assert e.value.status == 429
    assert model.calls == 4  # alice 3, sec 1: refused requests never reach the model
    guard.audit.flush()  # type: ignore[union-attr]
    decisions = [e.data for e in sqlite_ws.ledger.entries(kind="guard.decision", limit=50)]
    assert [d["status"] for d in decisions] == [200, 200, 403, 422, 422, 401, 200, 200, 429]
    guard.close()
