"""Verify at scale (issue 8, section 2).

Findings: 03 a full verify runs on one core only (split across worker processes, the
parent checking positions, ids and every checkpoint across the range boundaries);
04 a monitor can only re-verify everything (``since``: only what was appended after a
trusted checkpoint, plus the consistency proof); 05 a damaged node index must be a clear
problem, never an accepted incremental verify.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bastion.core.errors import InputError, NotFoundError
from bastion.core.ledger import Event, encode_event, leaf_hash
from bastion.core.workspace import Workspace


def _fill(ws: Workspace, total: int, batch: int = 97) -> None:
    done = ws.ledger.size()
    while done < total:
        n = min(batch, total - done)
        ws.ledger.append([Event("verify.test", {"i": done + i, "pad": "v" * 40}) for i in range(n)])
        done += n


def _exec(ws: Workspace, sql: str, **params: object) -> None:
    with ws.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _row(ws: Workspace, seq: int) -> tuple[str, bytes]:
    with ws.db.engine.connect() as conn:
        eid, data = conn.execute(
            text("SELECT event_id, data FROM ledger_entries WHERE seq = :s"), {"s": seq}
        ).one()
    return str(eid), bytes(data)


def _report(ws: Workspace, workers: int) -> dict[str, object]:
    d = ws.ledger.verify(workers=workers).to_dict()
    assert d["workers"] == (workers if workers > 1 else 1)
    d.pop("seconds")
    d.pop("workers")
    return d


# 2,500 events in ranges of 1,024 for three workers: tampering at 1,023/1,024 (and near
# 2,048) crosses a range boundary.
SIZE = 2_500


def _edit_content(ws: Workspace) -> None:
    _eid, data = _row(ws, 1_024)
    _exec(ws, "UPDATE ledger_entries SET data = :d WHERE seq = 1024", d=data.replace(b"v", b"w", 1))


def _edit_with_leaf(ws: Workspace) -> None:
    _eid, data = _row(ws, 700)
    new = data.replace(b"v", b"x", 1)
    _exec(
        ws,
        "UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE seq = 700",
        d=new,
        h=leaf_hash(new),
    )


def _delete(ws: Workspace) -> None:
    _exec(ws, "DELETE FROM ledger_entries WHERE seq = 1023")


def _delete_renumber(ws: Workspace) -> None:
    _exec(ws, "DELETE FROM ledger_entries WHERE seq = 2040")
    _exec(ws, "UPDATE ledger_entries SET seq = seq + 1000000 WHERE seq > 2040")
    _exec(ws, "UPDATE ledger_entries SET seq = seq - 1000001 WHERE seq > 1000000")


def _swap(ws: Workspace) -> None:
    _exec(ws, "UPDATE ledger_entries SET seq = -1 WHERE seq = 1023")
    _exec(ws, "UPDATE ledger_entries SET seq = 1023 WHERE seq = 1024")
    _exec(ws, "UPDATE ledger_entries SET seq = 1024 WHERE seq = -1")


def _edit_kind(ws: Workspace) -> None:
    _exec(ws, "UPDATE ledger_entries SET kind = 'registry.promoted' WHERE seq = 2048")


def _insert(ws: Workspace) -> None:
    from datetime import UTC, datetime

    _exec(ws, "UPDATE ledger_entries SET seq = seq + 1000000 WHERE seq >= 1020")
    _exec(ws, "UPDATE ledger_entries SET seq = seq - 999999 WHERE seq >= 1000000")
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    eid = "0b7e6c1e-8c39-4a43-9d59-0c2a6a4f2f11"
    blob = encode_event(1020, eid, "verify.test", "intruder", ts, {"forged": True})
    _exec(
        ws,
        "INSERT INTO ledger_entries (seq, event_id, kind, actor, recorded_at, data, leaf_hash) "
        "VALUES (1020, :e, 'verify.test', 'intruder', :t, :d, :h)",
        e=eid,
        t=ts,
        d=blob,
        h=leaf_hash(blob),
    )


TAMPER: dict[str, Callable[[Workspace], None]] = {
    "edited": _edit_content,
    "edited_with_leaf_hash": _edit_with_leaf,
    "deleted": _delete,
    "deleted_renumbered": _delete_renumber,
    "reordered": _swap,
    "edited_kind_column": _edit_kind,
    "inserted": _insert,
}


def test_finding_03_parallel_verify_equals_the_one_process_verify(ws: Workspace) -> None:
    _fill(ws, SIZE)
    one, three = _report(ws, 1), _report(ws, 3)
    assert one == three
    assert one["ok"] and one["size"] == SIZE
    assert one["root_hash"] == ws.ledger.verify(workers=2).to_dict()["root_hash"]


@pytest.mark.parametrize("tamper", sorted(TAMPER))
def test_finding_03_parallel_verify_names_tampering_across_ranges(
    sqlite_ws: Workspace, tamper: str
) -> None:
    """Each tampering near a range boundary: the workers' verify names exactly what the
    one-process verify names."""
    ws = sqlite_ws
    _fill(ws, SIZE)
    TAMPER[tamper](ws)
    one, three = _report(ws, 1), _report(ws, 3)
    assert not one["ok"]
    assert three == one


@pytest.mark.postgres
def test_finding_03_parallel_verify_on_postgres_names_an_edit(
    pg_schema_url: str, tmp_path: Path
) -> None:
    from bastion.core.settings import get_settings
    from bastion.core.workspace import init_workspace

    ws, _ = init_workspace(get_settings(home=tmp_path / "pg", database_url=pg_schema_url))
    try:
        _fill(ws, SIZE, batch=500)
        assert _report(ws, 3) == _report(ws, 1)
        _edit_content(ws)
        one, three = _report(ws, 1), _report(ws, 3)
        assert not one["ok"] and three == one
    finally:
        ws.close()


def test_finding_03_a_failing_worker_is_a_clear_error(sqlite_ws: Workspace) -> None:
    """A worker that cannot read its range fails the verify with the reason: nothing half
    checked passes."""
    from bastion.core.errors import LedgerError

    ws = sqlite_ws
    _fill(ws, 600)
    _exec(ws, "ALTER TABLE ledger_entries RENAME COLUMN actor TO actor_gone")
    with pytest.raises(LedgerError) as err:
        ws.ledger.verify(workers=2)
    assert "verify worker" in err.value.message and "nothing was verified" in err.value.message


def _checkpoint_sizes(ws: Workspace) -> list[int]:
    with ws.db.engine.connect() as conn:
        return [
            int(x)
            for x in conn.execute(
                text("SELECT size FROM ledger_checkpoints ORDER BY size")
            ).scalars()
        ]


def test_finding_04_since_checkpoint_checks_only_what_came_after(ws: Workspace) -> None:
    _fill(ws, 1_300)
    trusted = next(s for s in _checkpoint_sizes(ws) if s >= 1_000)
    _fill(ws, 1_700)
    rep = ws.ledger.verify(since=trusted)
    assert rep.ok, rep.problems
    assert (rep.since, rep.size) == (trusted, 1_700)
    assert rep.checkpoints == len([s for s in _checkpoint_sizes(ws) if s >= trusted])
    assert rep.root_hash == ws.ledger.verify().root_hash
    assert rep.to_dict()["checked"] == 1_700 - trusted
    # An edit after the trusted checkpoint is named, as a full verify names it.
    _eid, data = _row(ws, 1_650)
    _exec(ws, "UPDATE ledger_entries SET data = :d WHERE seq = 1650", d=data.replace(b"v", b"q", 1))
    rep = ws.ledger.verify(since=trusted)
    assert not rep.ok
    assert next(p.seq for p in rep.problems if p.kind == "edited") == 1_650


def test_finding_04_since_names_uncovered_and_deleted_tails(ws: Workspace) -> None:
    _fill(ws, 600)
    trusted = _checkpoint_sizes(ws)[-2]
    _exec(ws, "DELETE FROM ledger_entries WHERE seq = 599")
    kinds = {p.kind for p in ws.ledger.verify(since=trusted).problems}
    assert "missing" in kinds


def test_finding_04_since_refuses_an_unknown_or_forged_checkpoint(ws: Workspace) -> None:
    _fill(ws, 300)
    with pytest.raises(NotFoundError):
        ws.ledger.verify(since=299_999)
    size = _checkpoint_sizes(ws)[-2]
    _exec(ws, "UPDATE ledger_checkpoints SET note = :n WHERE size = :s", n="forged\n", s=size)
    rep = ws.ledger.verify(since=size)
    assert not rep.ok and rep.problems[0].kind == "checkpoint"
    with pytest.raises(InputError):
        ws.ledger.verify(since=size, deep=True)


def test_finding_05_since_with_a_damaged_node_index_is_refused(ws: Workspace) -> None:
    """The right edge at the trusted size comes from the node index: a damaged index (a
    wrong hash, a missing node) is named and nothing after it is accepted."""
    _fill(ws, 1_100)
    trusted = next(s for s in _checkpoint_sizes(ws) if s >= 600)  # covers a height-8 node
    _fill(ws, 1_300)
    assert ws.ledger.verify(since=trusted).ok
    _exec(ws, "UPDATE ledger_nodes SET hash = :h WHERE height = 8 AND idx = 0", h=b"\x07" * 32)
    rep = ws.ledger.verify(since=trusted)
    assert not rep.ok and [p.kind for p in rep.problems] == ["index"]
    assert "does not fold to the signed root" in rep.problems[0].message
    assert ws.ledger.verify().ok  # the full verify does not rely on the index
    _exec(ws, "DELETE FROM ledger_nodes WHERE height = 8 AND idx = 0")
    rep = ws.ledger.verify(since=trusted)
    assert not rep.ok and [p.kind for p in rep.problems] == ["index"]
    assert "cannot give the tree" in rep.problems[0].message


def test_finding_04_cli_since_checkpoint_and_workers(
    sqlite_ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from bastion.cli.main import main

    ws = sqlite_ws
    _fill(ws, 700)
    trusted = _checkpoint_sizes(ws)[-3]
    home = str(ws.settings.home)
    capsys.readouterr()
    rc = main(
        ["--home", home, "ledger", "verify", "--since-checkpoint", str(trusted), "--format", "json"]
    )
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["ok"] and rep["since"] == trusted and rep["size"] == 700
    assert rep["checked"] == 700 - trusted
    rc = main(["--home", home, "ledger", "verify", "--since-checkpoint", str(trusted)])
    out = capsys.readouterr().out
    assert rc == 0 and f"checked {trusted}..699" in out and "OK" in out
    rc = main(["--home", home, "ledger", "verify", "--workers", "2", "--format", "json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["ok"] and rep["workers"] == 2 and rep["size"] == 700
    rc = main(["--home", home, "ledger", "verify", "--since-checkpoint", "123456"])
    err = capsys.readouterr().err
    assert rc == 2 and "no signed checkpoint of size 123456" in err
    rc = main(["--home", home, "ledger", "verify", "--since-checkpoint", "5", "--deep"])
    assert rc == 2 and "cannot be combined" in capsys.readouterr().err
    _exec(ws, "UPDATE ledger_nodes SET hash = :h WHERE height = 8", h=b"\x01" * 32)
    rc = main(["--home", home, "ledger", "verify", "--since-checkpoint", str(trusted)])
    out = capsys.readouterr().out
    assert rc == 1 and "index" in out
