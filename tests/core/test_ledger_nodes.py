"""Proofs from the stored subtree index: same bytes as a full rebuild, O(log n) reads,
a damaged index never yields a bad proof, and existing ledgers are indexed on migration."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import event, text

from bastion.core.ledger import Event, Ledger, _log, consistency_proof, inclusion_proof
from bastion.core.ledger._merkle import (
    Frontier,
    _range_root,
    consistency_ranges,
    fold_subtrees,
    inclusion_ranges,
    leaf_hash,
    perfect_root,
    perfect_subtrees,
)
from bastion.core.workspace import Workspace


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 31, 100, 257])
def test_proof_ranges_fold_from_perfect_subtrees(size: int) -> None:
    leaves = _leaves(size)
    ranges = [r for i in range(size) for r in inclusion_ranges(i, size)]
    ranges += [r for m in range(size + 1) for r in consistency_ranges(m, size)]
    for a, b in ranges:
        roots = [perfect_root(leaves[i << h : (i + 1) << h]) for h, i in perfect_subtrees(a, b)]
        assert fold_subtrees(roots) == _range_root(leaves, a, b), (a, b)


def test_perfect_subtrees_are_aligned_and_cover_the_range() -> None:
    rnd = random.Random(4)
    for _ in range(500):
        a = rnd.randrange(0, 5000)
        b = a + rnd.randrange(0, 5000)
        parts = perfect_subtrees(a, b)
        pos = a
        for h, i in parts:
            assert i << h == pos
            pos += 1 << h
        assert pos == b


def test_perfect_root_refuses_a_ragged_level() -> None:
    from bastion.core.errors import InputError

    with pytest.raises(InputError, match="power-of-two"):
        perfect_root(_leaves(3))


def test_append_tracking_reports_exactly_the_completed_subtrees() -> None:
    leaves = _leaves(1100)
    f, plain = Frontier(), Frontier()
    got: list[tuple[int, int, bytes]] = []
    for lh in leaves:
        f.append_tracking(lh, 2, got)
        plain.append(lh)
        assert f.root() == plain.root()
    want = [
        (h, i, perfect_root(leaves[i << h : (i + 1) << h]))
        for h in range(2, 11, 2)
        for i in range(len(leaves) >> h)
    ]
    assert sorted(got) == sorted(want)


@pytest.fixture
def small_stride(monkeypatch: pytest.MonkeyPatch) -> None:
    """Store every second height so a few hundred events exercise several stored levels."""
    monkeypatch.setattr(_log, "NODE_STRIDE", 2)


def _fill(ledger: Ledger, n: int, batch: int = 37) -> list[str]:
    ids: list[str] = []
    for start in range(0, n, batch):
        evs = [Event("test.fill", {"i": i}) for i in range(start, min(n, start + batch))]
        ids += [e.event_id for e in ledger.append(evs)]
    return ids


def _no_full_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Ledger, size: int) -> list[bytes]:
        raise AssertionError("proof fell back to reading every leaf hash")

    monkeypatch.setattr(Ledger, "_leaf_hashes", refuse)


def test_index_proofs_equal_full_rebuild(
    ws: Workspace, small_stride: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = ws.ledger
    ids = _fill(ledger, 300)
    size = ledger.size()
    leaves = ledger._leaf_hashes(size)
    _no_full_rebuild(monkeypatch)
    for eid in random.Random(1).sample(ids, 40):
        proof = ledger.inclusion_proof(eid)
        assert proof.tree_size == size
        assert list(proof.path) == inclusion_proof(leaves, proof.seq, size)
    with ws.db.session() as s:
        sizes = [r[0] for r in s.execute(text("SELECT size FROM ledger_checkpoints"))]
    for old in sizes[:-1]:
        got = ledger.consistency_proof(old)
        want = consistency_proof(leaves, old, size)
        assert got["consistency_path"] == [h.hex() for h in want]


def test_a_proof_reads_few_rows(sqlite_ws: Workspace) -> None:
    ledger = sqlite_ws.ledger
    ids = _fill(ledger, 2000, batch=500)
    rows = 0

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        nonlocal rows
        if "ledger_entries" in statement or "ledger_nodes" in statement:
            rows += 1

    event.listen(sqlite_ws.db.engine, "before_cursor_execute", count)
    try:
        ledger.inclusion_proof(ids[1234])
    finally:
        event.remove(sqlite_ws.db.engine, "before_cursor_execute", count)
    # the event, then one read of leaf hashes and one of stored nodes (each range at most
    # 256 hashes): never one query per leaf, nor a scan of the whole log
    assert 0 < rows <= 4


def test_a_damaged_index_falls_back_and_still_proves(ws: Workspace, small_stride: None) -> None:
    ledger = ws.ledger
    ids = _fill(ledger, 200)
    with ws.db.session() as s:
        s.execute(text("UPDATE ledger_nodes SET hash = :h"), {"h": b"\x00" * 32})
    proof = ledger.inclusion_proof(ids[5])
    proof.verify()
    full = inclusion_proof(ledger._leaf_hashes(proof.tree_size), proof.seq, proof.tree_size)
    assert list(proof.path) == full
    with ws.db.session() as s:
        s.execute(text("DELETE FROM ledger_nodes"))
    ledger.inclusion_proof(ids[150]).verify()
    assert ledger.verify().ok


def test_migration_indexes_an_existing_ledger(
    sqlite_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = sqlite_ws.ledger
    ids = _fill(ledger, 700, batch=100)
    with sqlite_ws.db.session() as s:
        before = sorted(s.execute(text("SELECT height, idx, hash FROM ledger_nodes")).all())
        s.execute(text("DROP TABLE ledger_nodes"))
        s.execute(text("DELETE FROM alembic_version WHERE version_num = '0004_ledger_nodes'"))
    assert len(before) == 700 // 256
    sqlite_ws.db.migrate()
    with sqlite_ws.db.session() as s:
        after = sorted(s.execute(text("SELECT height, idx, hash FROM ledger_nodes")).all())
    assert after == before
    _no_full_rebuild(monkeypatch)
    ledger.inclusion_proof(ids[600]).verify()
