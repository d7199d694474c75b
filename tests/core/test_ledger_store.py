"""The stored ledger: appends, proofs, tamper detection that names the event, durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bastion.core.errors import InputError, LedgerError, NotFoundError
from bastion.core.ledger import (
    Event,
    Ledger,
    ProofError,
    encode_event,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
)
from bastion.core.workspace import Workspace


def _fill(ws: Workspace, batches: int = 6, per: int = 3) -> list[str]:
    ids: list[str] = []
    for b in range(batches):
        entries = ws.ledger.append(
            [
                Event("test.event", {"batch": b, "i": i, "pad": "x" * 100}, "tester")
                for i in range(per)
            ]
        )
        ids.extend(e.event_id for e in entries)
    return ids


def _exec(ws: Workspace, sql: str, **params: object) -> None:
    with ws.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _kinds(ws: Workspace) -> dict[str, list[str]]:
    rep = ws.ledger.verify()
    out: dict[str, list[str]] = {}
    for p in rep.problems:
        out.setdefault(p.kind, []).append(p.message)
    return out


def test_append_assigns_positions_and_signs_checkpoints(ws: Workspace) -> None:
    start = ws.ledger.size()  # init wrote one event
    ids = _fill(ws, batches=3, per=4)
    assert ws.ledger.size() == start + 12
    e = ws.ledger.get(ids[5])
    assert e.seq == start + 5
    assert e.data == {"batch": 1, "i": 1, "pad": "x" * 100}
    assert e.actor == "tester"
    note = ws.ledger.latest_checkpoint()
    assert note is not None
    cp = verify_checkpoint(note, ws.ledger.origin, ws.ledger.public_key)
    assert cp.size == start + 12
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size == start + 12
    assert rep.checkpoints == 4  # init + 3 batches
    assert rep.root_hash == cp.root_hash


def test_inclusion_and_consistency_proofs_verify(ws: Workspace) -> None:
    ids = _fill(ws)
    for eid in (ids[0], ids[7], ids[-1]):
        proof = ws.ledger.inclusion_proof(eid)
        proof.verify()
        assert proof.to_dict()["event_id"] == eid
        assert proof.leaf_hash == ws.ledger.get(eid).leaf_hash
    # Against an older checkpoint too.
    old = ws.ledger.inclusion_proof(ids[0], tree_size=4)
    assert old.tree_size == 4
    c = ws.ledger.consistency_proof(4)
    old_cp = verify_checkpoint(c["old_checkpoint"], ws.ledger.origin, ws.ledger.public_key)
    new_cp = verify_checkpoint(c["new_checkpoint"], ws.ledger.origin, ws.ledger.public_key)
    verify_consistency(
        old_cp.size,
        new_cp.size,
        old_cp.root_hash,
        new_cp.root_hash,
        [bytes.fromhex(h) for h in c["consistency_path"]],
    )


def test_proof_does_not_verify_for_another_root(ws: Workspace) -> None:
    ids = _fill(ws)
    proof = ws.ledger.inclusion_proof(ids[3])
    from dataclasses import replace

    with pytest.raises(ProofError):
        replace(proof, root_hash=bytes(32)).verify()


def test_unknown_event_and_bad_input(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        ws.ledger.get(str(uuid.uuid4()))
    with pytest.raises(InputError):
        ws.ledger.append([Event("Bad Kind", {})])
    with pytest.raises(InputError):
        ws.ledger.append([Event("ok.kind", {"x": float("nan")})])
    with pytest.raises(InputError, match="limit"):
        ws.ledger.append([Event("ok.kind", {"x": "y" * 300_000})])
    before = ws.ledger.size()
    assert ws.ledger.verify().ok and ws.ledger.size() == before  # nothing half-written


def test_read_only_handle_cannot_append(ws: Workspace) -> None:
    ro = Ledger(ws.db, ws.ledger.public_key, None, origin=ws.ledger.origin)
    with pytest.raises(LedgerError):
        ro.append([Event("x.y", {})])


def test_edited_event_is_named(ws: Workspace) -> None:
    ids = _fill(ws)
    target = ws.ledger.get(ids[4])
    _exec(
        ws,
        "UPDATE ledger_entries SET data = :d WHERE seq = :s",
        d=encode_event(
            target.seq,
            target.event_id,
            target.kind,
            target.actor,
            target.recorded_at,
            {"batch": 1, "i": 1, "pad": "forged"},
        ),
        s=target.seq,
    )
    kinds = _kinds(ws)
    assert any(target.event_id in m and f"position {target.seq}" in m for m in kinds["edited"])


def test_edit_with_recomputed_leaf_hash_is_caught_by_checkpoint(ws: Workspace) -> None:
    ids = _fill(ws)
    t = ws.ledger.get(ids[4])
    forged = encode_event(t.seq, t.event_id, t.kind, t.actor, t.recorded_at, {"evil": True})
    _exec(
        ws,
        "UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE seq = :s",
        d=forged,
        h=leaf_hash(forged),
        s=t.seq,
    )
    kinds = _kinds(ws)
    msgs = kinds["edited"]
    assert any("does not match its signed checkpoint" in m for m in msgs)
    # The named range contains the edited position.
    import re

    m = re.search(r"positions (\d+)\.\.(\d+)", next(x for x in msgs if "checkpoint" in x))
    assert m is not None and int(m[1]) <= t.seq <= int(m[2])


def test_deleted_event_is_named(ws: Workspace) -> None:
    ids = _fill(ws)
    t = ws.ledger.get(ids[6])
    _exec(ws, "DELETE FROM ledger_entries WHERE seq = :s", s=t.seq)
    kinds = _kinds(ws)
    assert any(f"{t.seq}..{t.seq}" in m for m in kinds["missing"])


def test_deleted_and_renumbered_event_is_named(ws: Workspace) -> None:
    ids = _fill(ws)
    t = ws.ledger.get(ids[6])
    _exec(ws, "DELETE FROM ledger_entries WHERE seq = :s", s=t.seq)
    _exec(ws, "UPDATE ledger_entries SET seq = seq + 1000000 WHERE seq > :s", s=t.seq)
    _exec(ws, "UPDATE ledger_entries SET seq = seq - 1000001 WHERE seq > 1000000")
    kinds = _kinds(ws)
    nxt = ids[7]
    assert any(
        f"recorded at positions {t.seq}..{t.seq}" in m and nxt in m for m in kinds["missing"]
    )


def test_inserted_event_is_named(ws: Workspace) -> None:
    ids = _fill(ws)
    at = ws.ledger.get(ids[5]).seq
    _exec(ws, "UPDATE ledger_entries SET seq = seq + 1000000 WHERE seq >= :s", s=at)
    _exec(ws, "UPDATE ledger_entries SET seq = seq - 999999 WHERE seq >= 1000000")
    fake_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    data = encode_event(at, fake_id, "test.event", "mallory", now, {"approve": "everything"})
    _exec(
        ws,
        "INSERT INTO ledger_entries (seq, event_id, kind, actor, recorded_at, data, leaf_hash)"
        " VALUES (:s, :i, 'test.event', 'mallory', :t, :d, :h)",
        s=at,
        i=fake_id,
        t=now,
        d=data,
        h=leaf_hash(data),
    )
    kinds = _kinds(ws)
    assert any(fake_id in m for m in kinds["inserted"]), kinds


def test_appended_row_outside_bastion_is_uncovered(ws: Workspace) -> None:
    _fill(ws)
    size = ws.ledger.size()
    fake_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    data = encode_event(size, fake_id, "test.event", "mallory", now, {})
    _exec(
        ws,
        "INSERT INTO ledger_entries (seq, event_id, kind, actor, recorded_at, data, leaf_hash)"
        " VALUES (:s, :i, 'test.event', 'mallory', :t, :d, :h)",
        s=size,
        i=fake_id,
        t=now,
        d=data,
        h=leaf_hash(data),
    )
    kinds = _kinds(ws)
    assert any(f"events {size}..{size}" in m for m in kinds["uncovered"])


def test_reordered_events_are_named(ws: Workspace) -> None:
    ids = _fill(ws)
    a, b = ws.ledger.get(ids[3]), ws.ledger.get(ids[9])
    _exec(ws, "UPDATE ledger_entries SET seq = -1 WHERE seq = :s", s=a.seq)
    _exec(ws, "UPDATE ledger_entries SET seq = :a WHERE seq = :b", a=a.seq, b=b.seq)
    _exec(ws, "UPDATE ledger_entries SET seq = :b WHERE seq = -1", b=b.seq)
    kinds = _kinds(ws)
    msgs = kinds["reordered"]
    assert any(a.event_id in m and f"stored at position {b.seq}" in m for m in msgs)
    assert any(b.event_id in m and f"stored at position {a.seq}" in m for m in msgs)


def test_forged_checkpoint_is_named(ws: Workspace) -> None:
    _fill(ws)
    _exec(
        ws,
        "UPDATE ledger_checkpoints SET note = replace(note, 'bastion', 'bastiom') WHERE size = 4",
    )
    kinds = _kinds(ws)
    assert any("size 4" in m for m in kinds["checkpoint"])


def test_truncation_is_caught_by_a_witness(ws: Workspace) -> None:
    _fill(ws)
    witness = ws.ledger.latest_checkpoint()
    assert witness is not None
    size = ws.ledger.size()
    # Truncate the tail, its checkpoint and rewind the head: storage alone looks consistent.
    _exec(ws, "DELETE FROM ledger_entries WHERE seq >= :s", s=size - 3)
    _exec(ws, "DELETE FROM ledger_checkpoints WHERE size > :s", s=size - 3)
    with ws.db.session() as s:
        from bastion.core.ledger._log import LedgerCheckpointRow, LedgerHeadRow
        from bastion.core.ledger._merkle import Frontier

        head = s.get(LedgerHeadRow, 1)
        assert head is not None
        f = Frontier()
        for h in s.scalars(text("SELECT leaf_hash FROM ledger_entries ORDER BY seq")):
            f.append(bytes(h))
        cp = s.scalars(
            __import__("sqlalchemy")
            .select(LedgerCheckpointRow.root_hash)
            .where(LedgerCheckpointRow.size == size - 3)
        ).one()
        head.size, head.root_hash, head.frontier = f.size, bytes(cp), f.to_bytes()
    assert ws.ledger.verify().ok  # undetectable without a witness...
    rep = ws.ledger.verify(witness=witness)
    assert not rep.ok  # ...and caught with one
    assert any("truncated" in p.message for p in rep.problems)


def test_witness_of_a_prefix_passes(ws: Workspace) -> None:
    _fill(ws, batches=2)
    witness = ws.ledger.latest_checkpoint()
    _fill(ws, batches=2)
    assert witness is not None
    assert ws.ledger.verify(witness=witness).ok


_WRITER = textwrap.dedent(
    """
    import sys
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace
    from bastion.core.ledger import Event
    ws = open_workspace(get_settings(home=sys.argv[1], database_url=sys.argv[2] or None))
    i = 0
    while True:
        (e,) = ws.ledger.append([Event("durability.test", {"i": i, "pad": "p" * 400})])
        sys.stdout.write(e.event_id + "\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_acknowledged_appends_survive_sigkill(ws: Workspace) -> None:
    """Kill the writer mid-stream: every acknowledged event is there and the log verifies."""
    url = ws.settings.database_url or ""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(ws.settings.home), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    acked: list[str] = []
    assert proc.stdout is not None
    try:
        while len(acked) < 60:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer died: {proc.stderr.read() if proc.stderr else ''}")
            acked.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for eid in acked:
        assert ws.ledger.get(eid).kind == "durability.test"
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size >= len(acked) + 1


_CONCURRENT = textwrap.dedent(
    """
    import sys
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace
    from bastion.core.ledger import Event
    ws = open_workspace(get_settings(home=sys.argv[1], database_url=sys.argv[2] or None))
    for i in range(25):
        ws.ledger.append([Event("concurrency.test", {"w": sys.argv[3], "i": i})] * 2)
    """
)


def test_concurrent_writers_never_interleave(ws: Workspace) -> None:
    url = ws.settings.database_url or ""
    before = ws.ledger.size()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT, str(ws.settings.home), url, str(w)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size == before + 3 * 25 * 2


def test_event_encoding_is_the_canonical_json_of_the_event() -> None:
    from bastion.core.canonical import canonical_json

    ts = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    data = {"z": [1, "é", {"b": None, "a": True}], "\u00e9t\u00e9": 1.5, "ctrl": "\x01\n"}
    got = encode_event(7, "0b7e6c1e-8c39-4a43-9d59-0c2a6a4f2f11", "a.kind", 'act"or\\', ts, data)
    assert got == canonical_json({
        "actor": 'act"or\\', "data": data, "id": "0b7e6c1e-8c39-4a43-9d59-0c2a6a4f2f11",
        "kind": "a.kind", "seq": 7, "time": "2026-01-02T03:04:05.678901Z",
    })  # fmt: skip


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "registry.promoted"),
        ("actor", "someone-else"),
        ("recorded_at", datetime(2020, 1, 1, tzinfo=UTC)),
    ],
)
def test_finding_07_edited_index_columns_are_named_and_not_trusted(
    ws: Workspace, column: str, value: object
) -> None:
    """The kind, actor and recorded_at columns are not hashed: an edit of any of them is
    named by verify, and readers keep what the hashed entry says (a refusal whose kind
    column was edited is still listed as a refusal)."""
    _fill(ws, batches=2, per=2)
    (target,) = ws.ledger.append(
        [Event("registry.promotion_refused", {"model": "m", "unmet": ["x"]}, "eng")]
    )
    _fill(ws, batches=1, per=2)
    assert ws.ledger.verify().ok
    _exec(ws, f"UPDATE ledger_entries SET {column} = :v WHERE seq = :s", v=value, s=target.seq)
    rep = ws.ledger.verify()
    assert not rep.ok
    named = [p for p in rep.problems if p.event_id == target.event_id]
    assert len(named) == 1 and named[0].kind == "edited" and named[0].seq == target.seq
    assert f"its {column} column" in named[0].message
    assert all(p.event_id == target.event_id for p in rep.problems)  # nothing else blamed
    # Readers use the hashed entry, not the column.
    got = ws.ledger.get(target.event_id)
    assert (got.kind, got.actor, got.recorded_at) == (
        target.kind,
        target.actor,
        target.recorded_at,
    )
    refusals = ws.ledger.entries(kind="registry.promotion_refused", newest_first=True)
    assert [e.event_id for e in refusals] == [target.event_id]
    assert ws.ledger.entries(kind="registry.promoted") == []


def test_finding_07_cli_ledger_verify_names_an_edited_kind(
    sqlite_ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from bastion.cli.main import main

    ws = sqlite_ws
    (target,) = ws.ledger.append([Event("registry.promotion_refused", {"model": "m"}, "eng")])
    _exec(ws, "UPDATE ledger_entries SET kind = 'test.event' WHERE seq = :s", s=target.seq)
    capsys.readouterr()
    rc = main(["--home", str(ws.settings.home), "ledger", "verify", "--format", "json"])
    import json

    rep = json.loads(capsys.readouterr().out)
    assert rc == 1 and not rep["ok"]
    assert [p["event_id"] for p in rep["problems"]] == [target.event_id]
    assert "kind column" in rep["problems"][0]["message"]
