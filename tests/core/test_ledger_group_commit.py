"""Group commit (issue 8, section 1): concurrent writers share durable transactions.

Findings: 01 the append path pays one transaction per call (no group commit); 02 a writer
that dies mid-batch, a full queue, a damaged head: each a clear error, nothing
acknowledged lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from bastion.core.errors import LedgerBusyError, LedgerError
from bastion.core.ledger import Entry, Event
from bastion.core.workspace import Workspace


def _checkpoints(ws: Workspace) -> int:
    with ws.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM ledger_checkpoints")).scalar_one())


def _threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            target(k)
        except BaseException as exc:  # collected, re-raised in the test thread
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    if errors:
        raise errors[0]


def test_finding_01_concurrent_writers_share_batches_and_checkpoints(ws: Workspace) -> None:
    """8 threads appending single events: every call gets its own position, the events
    share transactions (fewer signed checkpoints than events: one per batch), and what each
    caller was told is what is stored."""
    before, cps_before = ws.ledger.size(), _checkpoints(ws)
    committer = ws.ledger.committer
    batches_before, events_before = committer.batches, committer.events
    got: dict[int, list[Entry]] = {}
    per = 40

    def writer(k: int) -> None:
        mine = got.setdefault(k, [])
        for i in range(per):
            (e,) = ws.ledger.append([Event("gc.test", {"w": k, "i": i}, f"writer-{k}")])
            mine.append(e)

    _threads(8, writer)
    entries = [e for es in got.values() for e in es]
    assert len(entries) == 8 * per
    assert sorted(e.seq for e in entries) == list(range(before, before + 8 * per))
    batches = committer.batches - batches_before
    assert committer.events - events_before == 8 * per
    assert batches < 8 * per  # batched: at least one transaction held several events
    assert _checkpoints(ws) - cps_before == batches  # one signed checkpoint per batch
    for e in entries[::17]:
        stored = ws.ledger.get(e.event_id)
        assert (stored.seq, stored.kind, stored.actor, stored.data) == (
            e.seq,
            "gc.test",
            e.actor,
            e.data,
        )
    for es in got.values():  # one writer's appends keep its order
        assert [e.seq for e in es] == sorted(e.seq for e in es)
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size == before + 8 * per


def test_finding_01_one_call_stays_contiguous_in_a_batch(ws: Workspace) -> None:
    """A call's events are appended together, in order, even when batched with others."""

    def writer(k: int) -> None:
        for i in range(10):
            es = ws.ledger.append([Event("gc.multi", {"w": k, "i": i, "j": j}) for j in range(3)])
            assert [e.seq for e in es] == list(range(es[0].seq, es[0].seq + 3))
            assert [e.data["j"] for e in es] == [0, 1, 2]

    _threads(6, writer)
    assert ws.ledger.verify().ok


def _wait_for(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_finding_02_full_queue_is_refused_with_back_pressure(sqlite_ws: Workspace) -> None:
    """While the committer is held (another connection has the database's write lock), at
    most ``max_pending`` events wait; the next writer gets LedgerBusyError at once and
    nothing of its is stored; every accepted writer is acknowledged once the lock goes."""
    ws = sqlite_ws
    committer = ws.ledger.committer
    committer.max_pending = 4
    before = ws.ledger.size()
    blocker = ws.db.engine.raw_connection()
    cur = blocker.cursor()
    cur.execute("BEGIN IMMEDIATE")  # the write lock: the committer's UPDATE waits
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            (e,) = ws.ledger.append([Event("gc.busy", {"name": name})])
            results[name] = e.seq
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=("leader",))]
    threads[0].start()
    _wait_for(lambda: committer._leading and committer.pending == 0, "the committer to block")
    for i in range(4):
        t = threading.Thread(target=write, args=(f"queued-{i}",))
        t.start()
        threads.append(t)
    _wait_for(lambda: committer.pending == 4, "four queued writers")
    with pytest.raises(LedgerBusyError) as busy:
        ws.ledger.append([Event("gc.busy", {"name": "refused"})])
    assert "queue is full" in busy.value.message and "nothing was appended" in busy.value.message
    assert busy.value.http_status == 503
    blocker.rollback()
    cur.close()
    blocker.close()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results.values()) == list(range(before, before + 5))
    names = {e.data["name"] for e in ws.ledger.entries(kind="gc.busy", limit=100)}
    assert names == {"leader", *(f"queued-{i}" for i in range(4))}  # "refused" never stored
    assert ws.ledger.verify().ok


def test_finding_02_failed_batch_fails_each_writer_and_the_committer_recovers(
    ws: Workspace,
) -> None:
    """A batch that cannot be written (the stored head is damaged) fails every writer in it
    with the reason, stores nothing, and leaves the committer working once repaired."""
    ws.ledger.append([Event("gc.ok", {"i": 0})])
    before = ws.ledger.size()
    with ws.db.engine.begin() as conn:
        good = conn.execute(text("SELECT frontier FROM ledger_head WHERE id = 1")).scalar_one()
        conn.execute(text("UPDATE ledger_head SET frontier = :f WHERE id = 1"), {"f": b"\x00"})
    failures: list[LedgerError] = []

    def writer(k: int) -> None:
        for i in range(5):
            try:
                ws.ledger.append([Event("gc.fail", {"w": k, "i": i})])
            except LedgerError as exc:
                failures.append(exc)

    _threads(6, writer)
    assert len(failures) == 30  # nobody was acknowledged
    assert all("stored frontier" in f.message for f in failures)
    with ws.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
    assert rows == before
    with ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_head SET frontier = :f WHERE id = 1"), {"f": good})

    def again(k: int) -> None:
        ws.ledger.append([Event("gc.ok", {"w": k})])

    _threads(4, again)
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size == before + 4


_THREADED_WRITER = textwrap.dedent(
    """
    import sys, threading
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace
    from bastion.core.ledger import Event
    ws = open_workspace(get_settings(home=sys.argv[1], database_url=sys.argv[2] or None))
    lock = threading.Lock()
    def run(k):
        i = 0
        while True:
            (e,) = ws.ledger.append([Event("durability.group", {"p": sys.argv[3], "w": k, "i": i})])
            with lock:
                sys.stdout.write(f"{e.seq} {e.event_id}\\n")
                sys.stdout.flush()
            i += 1
    for k in range(int(sys.argv[4])):
        threading.Thread(target=run, args=(k,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_finding_02_acknowledged_group_commits_survive_sigkill(ws: Workspace) -> None:
    """Three writer processes of four threads each, batching through their committers
    (and serialising on the head across processes), are killed with SIGKILL mid-stream:
    every acknowledged sequence number is stored with its event, and the log verifies."""
    url = ws.settings.database_url or ""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _THREADED_WRITER, str(ws.settings.home), url, str(p), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        for p in range(3)
    ]
    acked: list[tuple[int, str]] = []
    lock = threading.Lock()

    def read(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seq, eid = line.split()
            with lock:
                acked.append((int(seq), eid))

    readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in procs]
    for r in readers:
        r.start()
    try:
        _wait_for(lambda: len(acked) >= 300, "300 acknowledged appends", timeout=90)
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=30)
    for r in readers:
        r.join(timeout=10)
    assert all(p.returncode == -signal.SIGKILL for p in procs)
    with lock:
        got = list(acked)
    assert len({seq for seq, _ in got}) == len(got)  # no position acknowledged twice
    for seq, eid in got:
        e = ws.ledger.get(eid)
        assert e.seq == seq and e.kind == "durability.group"
    rep = ws.ledger.verify()
    assert rep.ok, rep.problems
    assert rep.size > max(seq for seq, _ in got)
