"""Concurrent promotions, approvals and a rollback racing a promotion, from separate
PROCESSES (each with its own workspace, engine and connections) on a real PostgreSQL.

The thread tests in test_registry.py share one engine; these are what a deployment does:
several API workers or CLI runs at once, serialised only by the database's row locks.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace, open_workspace
from bastion.registry import Stage, get_model, history, promote, register_model
from tests.registry._helpers import approver, model_dir, setup

pytestmark = pytest.mark.postgres

_CTX = mp.get_context("spawn")


def _open(home: str, url: str) -> Workspace:
    return open_workspace(get_settings(home=Path(home), database_url=url))


def _worker(action: str, home: str, url: str, args: dict[str, Any], barrier: Any, out: Any) -> None:
    """Runs in a fresh process: open the workspace, wait for the others, act, report."""
    from bastion.access import authenticate
    from bastion.core.errors import ConflictError
    from bastion.registry import approve, promote, rollback

    ws = _open(home, url)
    try:
        barrier.wait(timeout=60)
        try:
            if action == "promote":
                res = promote(ws, "credit-gbm", args["version"], "production", actor="dana")
                out.put((action, "ok" if res.promoted else "refused"))
            elif action == "approve":
                who = authenticate(ws, args["token"], pyotp.TOTP(args["totp"]).now())
                approve(ws, "credit-gbm", args["version"], who)
                out.put((action, "ok"))
            elif action == "rollback":
                rollback(ws, "credit-gbm", args["version"], reason="incident", actor="sam")
                out.put((action, "ok"))
        except ConflictError as exc:
            out.put((action, f"conflict: {exc.message}"))
    except Exception:
        out.put((action, "crash: " + traceback.format_exc()))
    finally:
        ws.close()


def _race(home: Path, url: str, jobs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    barrier = _CTX.Barrier(len(jobs))
    out = _CTX.Queue()
    procs = [
        _CTX.Process(target=_worker, args=(a, str(home), url, kw, barrier, out)) for a, kw in jobs
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [r for r in results if r[1].startswith("crash")], results
    return sorted(results)


@pytest.fixture
def pg(tmp_path: Path, pg_schema_url: str) -> Iterator[tuple[Workspace, Path, str]]:
    home = tmp_path / "home"
    ws, _ = init_workspace(get_settings(home=home, database_url=pg_schema_url))
    try:
        setup(ws)
        yield ws, home, pg_schema_url
    finally:
        ws.close()


def _register(ws: Workspace, root: Path, content: bytes) -> Any:
    return register_model(
        ws,
        "credit-gbm",
        model_dir(root, content),
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
    )


def _clear(ws: Workspace, v: Any) -> None:
    from tests.registry.test_registry import _clear as clear

    clear(ws, v, approver(ws, "sam"), {p: approver(ws, p) for p in ("lee", "bo")})


def test_two_processes_promote_the_same_version(
    pg: tuple[Workspace, Path, str], tmp_path: Path
) -> None:
    ws, home, url = pg
    v = _register(ws, tmp_path, b"weights-v1")
    _clear(ws, v)
    results = _race(home, url, [("promote", {"version": "1"})] * 2)
    assert [r[1] for r in results][1] == "ok"
    assert results[0][1].startswith("conflict: credit-gbm@1 is already in production")
    assert len(ws.ledger.entries(kind="registry.promote", limit=10)) == 1
    assert ws.ledger.verify().ok


def test_two_processes_approve_the_same_version(
    pg: tuple[Workspace, Path, str], tmp_path: Path
) -> None:
    from bastion.access import create_token

    ws, home, url = pg
    _register(ws, tmp_path, b"weights-v1")
    # Two tokens of sam: a TOTP code is good once per token (issue 14, finding 12), so two
    # processes sending one token's code would race on the code, not on the approval.
    jobs = []
    for _ in range(2):
        sam = create_token(ws, name="sam", role="approver", actor="test")
        jobs.append(("approve", {"version": "1", "token": sam.token, "totp": sam.totp_secret}))
    results = _race(home, url, jobs)
    assert sorted(r[1].split(":")[0] for r in results) == ["conflict", "ok"]
    assert len(ws.ledger.entries(kind="registry.approved", limit=10)) == 1
    assert ws.ledger.verify().ok


def test_rollback_racing_a_promotion(pg: tuple[Workspace, Path, str], tmp_path: Path) -> None:
    ws, home, url = pg
    v1 = _register(ws, tmp_path, b"weights-v1")
    _clear(ws, v1)
    assert promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    v2 = _register(ws, tmp_path, b"weights-v2")
    _clear(ws, v2)
    assert promote(ws, "credit-gbm", "2", "production", actor="dana").promoted
    v3 = _register(ws, tmp_path, b"weights-v3")
    _clear(ws, v3)
    # Roll back to 1 while 3 is promoted: both apply, one after the other, never interleaved.
    results = _race(home, url, [("rollback", {"version": "1"}), ("promote", {"version": "3"})])
    assert [r[1] for r in results] == ["ok", "ok"], results
    model = get_model(ws, "credit-gbm")
    live = [x.version for x in model.versions if x.stage is Stage.PRODUCTION]
    assert len(live) == 1
    last = history(ws, "credit-gbm")[-1]
    # The last applied transition decides who is live; the other one was archived by it.
    assert last.action in ("rollback", "promote") and live == [last.version]
    actions = [(t.action, t.version) for t in history(ws, "credit-gbm")[-4:]]
    if last.action == "promote":  # rollback first (archiving 2), then 3 archived 1
        assert actions == [("archive", "2"), ("rollback", "1"), ("archive", "1"), ("promote", "3")]
    else:  # promotion first (archiving 2), then the rollback archived 3
        assert actions == [("archive", "2"), ("promote", "3"), ("archive", "3"), ("rollback", "1")]
    assert ws.ledger.verify().ok
