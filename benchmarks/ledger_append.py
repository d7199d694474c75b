"""Claim: Bastion's ledger appends durably at least 3x faster than pymerkle's SQLite tree.

Every contender gets the same N deterministic ~500-byte events in the same batches, in the
same run, on the same disk:

* Bastion on SQLite (WAL, synchronous=FULL): ``Ledger.append(batch)``, one transaction per
  batch that stores the events, advances the frontier and signs a C2SP checkpoint (Ed25519).
* Bastion on PostgreSQL (the same call; the server's own fsync settings).
* pymerkle ``SqliteTree.append_entries(batch)`` as shipped (its connection's defaults), and
  again with the connection set to Bastion's WAL + synchronous=FULL, so the disk guarantees
  match; once more with a ``get_root()`` after each batch (a tree head per batch, unsigned:
  the closest pymerkle gets to Bastion's per-batch checkpoint).
* pymerkle ``InmemoryTree.append_entries(batch)``: nothing on disk, an upper bound only.

Then the concurrent case (group commit): 8 writer threads on SQLite and 4 writer
processes on PostgreSQL (``--pg-threads`` threads each), every call a single event:
durable events/s back to back, and acknowledgement latency (p50/p99) at a paced 2,000
events/s, beside Tessera's published 2,900 durable writes/s and pymerkle appending one
event per commit (unsigned, unbatched). ``--concurrent-only`` runs just that part.

Then 100 random inclusion proofs on each store: ``Ledger.inclusion_proof(event_id)`` (which
verifies the signed checkpoint and the path before returning) against pymerkle's
``prove_inclusion(index)`` followed by ``verify_inclusion``.

Run from the repository root: ``.venv/bin/python benchmarks/ledger_append.py``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import _common as c
import pymerkle
from pymerkle import InmemoryTree, SqliteTree

from bastion.core.ledger import Event, Ledger
from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace, open_workspace

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_RATIO = 3.0


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(sql)


def _sqlite_mode(con: Any) -> dict[str, Any]:
    cur = con.cursor()
    cur.row_factory = None
    journal = cur.execute("PRAGMA journal_mode").fetchone()[0]
    sync = cur.execute("PRAGMA synchronous").fetchone()[0]
    cur.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": str(journal).upper(), "synchronous": names.get(int(sync), str(sync))}


def _durability_note(mode: dict[str, Any]) -> str:
    j, s = mode["journal_mode"], mode["synchronous"]
    if s in ("OFF",):
        return "not durable: commits are not fsynced"
    if j == "WAL":
        return (
            "durable: each commit fsyncs the WAL"
            if s in ("FULL", "EXTRA")
            else (
                "not durable: WAL + NORMAL fsyncs only at checkpoints, the last commits can be lost"
            )
        )
    if j in ("DELETE", "TRUNCATE", "PERSIST"):
        if s == "EXTRA":
            return "durable: rollback journal, database and directory fsynced per commit"
        if s == "FULL":
            return (
                "durable on the data (journal and database fsynced per commit) but the "
                "journal's unlink is not followed by a directory fsync (SQLite's EXTRA level): "
                "a power loss just after a commit can roll that commit back"
            )
        return "not fully durable: rollback journal with synchronous=NORMAL"
    return f"journal_mode={j}: not durable across power loss"


def bench_bastion(ws: Workspace, events: list[Event], batch: int) -> tuple[float, list[str]]:
    ledger = ws.ledger
    ids: list[str] = []

    def run() -> None:
        for b in c.chunks(events, batch):
            ids.extend(e.event_id for e in ledger.append(b))

    dt, _ = c.timed(run)
    return dt, ids


def bench_pymerkle(
    tree: Any,
    blobs: list[bytes],
    batch: int,
    root_per_batch: bool = False,
    bodies: list[dict[str, Any]] | None = None,
) -> float:
    """With ``bodies``, the events are JSON-encoded inside the timed loop: the same input
    Bastion gets (dicts), since a pymerkle user has to serialise events too."""

    def run() -> None:
        if bodies is not None:
            for d in c.chunks(bodies, batch):
                tree.append_entries([c.event_bytes(x) for x in d])
            return
        for b in c.chunks(blobs, batch):
            tree.append_entries(b)
            if root_per_batch:
                tree.get_root()

    dt, _ = c.timed(run)
    return dt


def proofs_bastion(ledger: Ledger, ids: list[str], picks: list[int]) -> float:
    def run() -> None:
        for i in picks:
            ledger.inclusion_proof(ids[i])  # verifies the checkpoint and the path

    return c.timed(run)[0]


def proofs_pymerkle(tree: Any, picks: list[int]) -> float:
    def run() -> None:
        size = tree.get_size()
        root = tree.get_root(size)
        for i in picks:
            proof = tree.prove_inclusion(i + 1, size)
            pymerkle.verify_inclusion(tree.get_leaf(i + 1), root, proof)

    return c.timed(run)[0]


# -- the concurrent case: many writers, single events, group commit ----------------------

TESSERA_WRITES_PER_S = 2_900  # Tessera (Rekor v2's storage layer) on POSIX, from its docs
GOAL_SQLITE = 10_000
GOAL_POSTGRES = 5_000
GOAL_P99_MS = 25.0
PACED_RATE = 2_000


def _percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _writer_threads(
    ledger: Ledger,
    events: list[Event],
    threads: int,
    rate: float | None,
    start_at: float | None = None,
) -> dict[str, Any]:
    """``threads`` writers, each appending its share of ``events`` one at a time.

    Unpaced: back to back, latency from call to acknowledgement. Paced (``rate`` events/s
    over all threads, open loop): event ``j`` is due at ``start + j / rate``; its latency
    runs from when it was due, so a writer that falls behind counts its queueing too.
    """
    import threading
    import time

    lat: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    t0 = start_at if start_at is not None else time.perf_counter() + 0.05

    def run(k: int) -> None:
        mine = events[k::threads]
        out = lat[k]
        try:
            while time.perf_counter() < t0:
                time.sleep(0.0005)
            for j, ev in enumerate(mine):
                if rate:
                    due = t0 + (j * threads + k) / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    start = due
                else:
                    start = time.perf_counter()
                ledger.append([ev])
                out.append(time.perf_counter() - start)
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    end = time.perf_counter()
    if errors:
        raise errors[0]
    flat = [x for xs in lat for x in xs]
    return {"events": len(flat), "seconds": end - t0, "latencies": flat}


def _summary(events: int, seconds: float, lat: list[float]) -> dict[str, Any]:
    return {
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(c.rate(events, seconds), 1),
        "p50_ms": round(1000 * _percentile(lat, 0.50), 3),
        "p99_ms": round(1000 * _percentile(lat, 0.99), 3),
        "max_ms": round(1000 * max(lat), 3) if lat else None,
    }


def _pg_process(barrier: Any, results: Any, args: tuple[Any, ...]) -> None:
    """One PostgreSQL writer process: its own workspace handle and group committer. All
    processes start writing together, once every one of them is connected."""
    import time

    home, url, proc, threads, n, rate = args
    ws = open_workspace(get_settings(home=home, database_url=url))
    try:
        bodies = c.make_events(n, 1000 + proc)
        events = [Event(c.EVENT_KIND, d, c.EVENT_ACTOR) for d in bodies]
        ws.ledger.append([Event(c.EVENT_KIND, {"warm-up": proc}, c.EVENT_ACTOR)])
        b0 = ws.ledger.committer.batches
        barrier.wait()
        got = _writer_threads(ws.ledger, events, threads, rate, time.perf_counter() + 0.02)
        got["batches"] = ws.ledger.committer.batches - b0
        results.put(got)
    finally:
        ws.close()


def _pg_processes(
    home: Path, url: str, procs: int, threads: int, per_proc: int, rate: float | None
) -> dict[str, Any]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    share = None if rate is None else rate / procs
    workers = [
        ctx.Process(
            target=_pg_process,
            # ``rate`` is for all processes together: each paces its share.
            args=(barrier, results, (str(home), url, p, threads, per_proc, share)),
        )
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    import queue

    parts: list[dict[str, Any]] = []
    while len(parts) < len(workers):
        try:
            parts.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                for w in workers:
                    w.kill()
                raise RuntimeError(
                    f"a PostgreSQL writer process failed (exit {dead[0].exitcode})"
                ) from None
    for w in workers:
        w.join()
    n = sum(p["events"] for p in parts)
    secs = max(p["seconds"] for p in parts)
    lat = [x for p in parts for x in p["latencies"]]
    out = _summary(n, secs, lat)
    out["batches"] = sum(p["batches"] for p in parts)
    out["events_per_batch"] = round(n / max(1, out["batches"]), 2)
    return out


def _median_case(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate, plus every run's rate and p99."""
    ordered = sorted(runs, key=lambda r: r["events_per_s"])
    med = dict(ordered[len(ordered) // 2])
    med["runs_events_per_s"] = [r["events_per_s"] for r in runs]
    med["runs_p99_ms"] = [r["p99_ms"] for r in runs]
    return med


def bench_concurrent(
    tmpdir: Path, pg_url: str | None, n: int, runs: int, paced_seconds: float, pg_threads: int
) -> dict[str, Any]:
    """8 writer threads on SQLite, 4 writer processes on PostgreSQL, single events each:
    durable events/s unpaced, and acknowledgement latency at a paced 2,000 events/s."""
    import time

    out: dict[str, Any] = {}
    bodies = c.make_events(max(n, int(PACED_RATE * paced_seconds)), 7)
    events = [Event(c.EVENT_KIND, d, c.EVENT_ACTOR) for d in bodies]
    ws, _ = init_workspace(get_settings(home=tmpdir / "conc-sqlite", database_url=None))
    try:
        for name, rate, count in (
            ("sqlite_8_threads", None, n),
            ("sqlite_8_threads_paced", PACED_RATE, int(PACED_RATE * paced_seconds)),
        ):
            results = []
            for _ in range(runs):
                b0 = ws.ledger.committer.batches
                got = _writer_threads(ws.ledger, events[:count], 8, rate)
                s = _summary(got["events"], got["seconds"], got["latencies"])
                s["batches"] = ws.ledger.committer.batches - b0
                s["events_per_batch"] = round(s["events"] / max(1, s["batches"]), 2)
                results.append(s)
            out[name] = _median_case(results)
        rep = ws.ledger.verify()
        out["sqlite_verify_ok"] = rep.ok
    finally:
        ws.close()

    # The unsigned, unbatched reference: pymerkle, one committed append per event.
    k = min(n, 3_000)
    blobs = [c.event_bytes(d) for d in bodies[:k]]
    ref = []
    for _ in range(runs):
        tree = SqliteTree(str(tmpdir / f"pymerkle-single-{uuid.uuid4().hex[:6]}.db"))
        try:
            tree.con.execute("PRAGMA journal_mode=WAL")
            tree.con.execute("PRAGMA synchronous=FULL")
            lat: list[float] = []
            t0 = time.perf_counter()
            for b in blobs:
                s0 = time.perf_counter()
                tree.append_entry(b)
                lat.append(time.perf_counter() - s0)
            ref.append(_summary(k, time.perf_counter() - t0, lat))
        finally:
            tree.close()
    out["pymerkle_single_wal_full"] = _median_case(ref)

    if pg_url is not None:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        _pg_admin(pg_url, f"CREATE SCHEMA {schema}")
        try:
            url = f"{pg_url}?options=-csearch_path%3D{schema}"
            home = tmpdir / "conc-pg"
            ws, _ = init_workspace(get_settings(home=home, database_url=url))
            ws.close()
            for name, rate, count in (
                ("postgres_4_processes", None, n),
                ("postgres_4_processes_paced", PACED_RATE, int(PACED_RATE * paced_seconds)),
            ):
                results = [
                    _pg_processes(home, url, 4, pg_threads, count // 4, rate) for _ in range(runs)
                ]
                out[name] = _median_case(results)
                out[name]["threads_per_process"] = pg_threads
            ws = open_workspace(get_settings(home=home, database_url=url))
            try:
                out["postgres_verify_ok"] = ws.ledger.verify().ok
            finally:
                ws.close()
        finally:
            _pg_admin(pg_url, f"DROP SCHEMA {schema} CASCADE")
    return out


def print_concurrent(res: dict[str, Any]) -> None:
    rows: list[list[object]] = [
        [
            "Tessera (Rekor v2 storage), POSIX",
            c.fmt_rate(TESSERA_WRITES_PER_S),
            "-",
            "from its docs; integrated 0.6-6 s later",
        ]
    ]
    labels = {
        "sqlite_8_threads": "bastion-sqlite, 8 threads",
        "sqlite_8_threads_paced": f"bastion-sqlite, 8 threads @ {PACED_RATE:,}/s",
        "postgres_4_processes": "bastion-postgres, 4 processes",
        "postgres_4_processes_paced": f"bastion-postgres, 4 processes @ {PACED_RATE:,}/s",
        "pymerkle_single_wal_full": "pymerkle-sqlite, 1 writer, unbatched (WAL+FULL)",
    }
    for key, label in labels.items():
        r = res.get(key)
        if r is None:
            continue
        note = (
            "unsigned, one commit per event"
            if key.startswith("pymerkle")
            else (
                f"{r.get('events_per_batch', '-')} events/batch"
                if "events_per_batch" in r
                else f"{r.get('threads_per_process')} threads/process"
            )
        )
        rows.append(
            [label, c.fmt_rate(r["events_per_s"]), f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}", note]
        )
    c.print_table(["concurrent, single events", "durable events/s", "p50 / p99 ms", "note"], rows)

    def goal(key: str, want: float) -> None:
        if key in res:
            got = res[key]["events_per_s"]
            print(
                f"{key}: {got:,.0f} events/s (goal >= {want:,}: {'met' if got >= want else 'NOT met'})"
            )

    goal("sqlite_8_threads", GOAL_SQLITE)
    goal("postgres_4_processes", GOAL_POSTGRES)
    for key in ("sqlite_8_threads_paced", "postgres_4_processes_paced"):
        if key in res:
            p99 = res[key]["p99_ms"]
            ok = "met" if p99 < GOAL_P99_MS else "NOT met"
            print(f"{key}: p99 acknowledgement {p99:.2f} ms (goal < {GOAL_P99_MS:.0f} ms: {ok})")


def run_concurrent_only(args: argparse.Namespace) -> int:
    info = c.machine_info()
    print(
        f"ledger_append --concurrent-only: {args.concurrent_events:,} events per unpaced run, "
        f"median of {args.runs}, {info['cpu_model']} x{info['cores']}"
    )
    scratch = c.ensure_ignored_dir(c.CACHE_DIR)
    with tempfile.TemporaryDirectory(prefix="ledger-conc-", dir=scratch) as tmp:
        res = bench_concurrent(
            Path(tmp),
            None if args.no_postgres else args.pg_url,
            args.concurrent_events,
            args.runs,
            args.paced_seconds,
            args.pg_threads,
        )
    print()
    print_concurrent(res)
    out = c.write_results(
        "ledger_append_concurrent",
        {
            "concurrent": res,
            "runs": args.runs,
            "paced_rate": PACED_RATE,
            "tessera_writes_per_s": TESSERA_WRITES_PER_S,
        },
    )
    print(f"\nwrote {out.relative_to(c.ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--events", type=int, default=20_000, help="events per contender (default 20000)"
    )
    p.add_argument("--batch", type=int, default=100, help="events per append (default 100)")
    p.add_argument("--proofs", type=int, default=100, help="inclusion proofs to time (0 to skip)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--pg-url", default=DEFAULT_PG, help="PostgreSQL URL (a fresh schema is made in it)"
    )
    p.add_argument("--no-postgres", action="store_true", help="leave out Bastion on PostgreSQL")
    p.add_argument(
        "--concurrent-events",
        type=int,
        default=16_000,
        help="events per unpaced concurrent run (default 16000; 0 skips the concurrent case)",
    )
    p.add_argument("--runs", type=int, default=3, help="concurrent runs per case (median shown)")
    p.add_argument(
        "--paced-seconds", type=float, default=5.0, help="length of each paced run (default 5)"
    )
    p.add_argument(
        "--pg-threads", type=int, default=8, help="writer threads in each PostgreSQL process"
    )
    p.add_argument(
        "--concurrent-only", action="store_true", help="only the concurrent case (no batches)"
    )
    args = p.parse_args(argv)
    if args.concurrent_only:
        return run_concurrent_only(args)

    n, batch = args.events, args.batch
    print(
        f"ledger_append: {n:,} events of ~{c.TARGET_EVENT_BYTES} bytes, batches of {batch}, "
        f"{c.machine_info()['cpu_model']} x{c.machine_info()['cores']}"
    )
    bodies = c.make_events(n, args.seed)
    events = [Event(c.EVENT_KIND, d, c.EVENT_ACTOR) for d in bodies]
    blobs = [c.event_bytes(d) for d in bodies]
    rng = random.Random(args.seed + 7)
    picks = [rng.randrange(n) for _ in range(args.proofs)]

    results: dict[str, dict[str, Any]] = {}
    notes: list[str] = []

    def record(name: str, seconds: float, durability: str, detail: str = "", **extra: Any) -> None:
        results[name] = {
            "seconds": round(seconds, 4),
            "events_per_s": round(c.rate(n, seconds), 1),
            "durability": durability,
            "durability_detail": detail or durability,
            **extra,
        }
        print(f"  {name:<44} {c.fmt_rate(c.rate(n, seconds)):>10} events/s  ({seconds:.2f} s)")

    scratch = c.ensure_ignored_dir(c.CACHE_DIR)
    with tempfile.TemporaryDirectory(prefix="ledger-append-", dir=scratch) as tmp:
        tmpdir = Path(tmp)

        # -- Bastion on SQLite ---------------------------------------------------------
        ws, _ = init_workspace(get_settings(home=tmpdir / "bastion-sqlite", database_url=None))
        try:
            raw = ws.db.engine.raw_connection()
            bmode = _sqlite_mode(raw.driver_connection)
            raw.close()
            secs, ids_sqlite = bench_bastion(ws, events, batch)
            record(
                "bastion-sqlite",
                secs,
                f"{bmode['journal_mode']}+{bmode['synchronous']}",
                _durability_note(bmode),
                sqlite_mode=bmode,
                signed_checkpoints=-(-n // batch),
            )
            proof_b = proofs_bastion(ws.ledger, ids_sqlite, picks) if picks else None
        finally:
            ws.close()

        # -- Bastion on PostgreSQL -------------------------------------------------------
        proof_pg = None
        if not args.no_postgres:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            _pg_admin(args.pg_url, f"CREATE SCHEMA {schema}")
            try:
                url = f"{args.pg_url}?options=-csearch_path%3D{schema}"
                ws, _ = init_workspace(get_settings(home=tmpdir / "bastion-pg", database_url=url))
                try:
                    with ws.db.engine.connect() as con:
                        fsync = con.exec_driver_sql("SHOW fsync").scalar()
                        sync_commit = con.exec_driver_sql("SHOW synchronous_commit").scalar()
                        server = con.exec_driver_sql("SHOW server_version").scalar()
                    secs, ids_pg = bench_bastion(ws, events, batch)
                    record(
                        "bastion-postgres",
                        secs,
                        f"fsync={fsync}, sync_commit={sync_commit}",
                        "PostgreSQL commit waits for its WAL flush"
                        if fsync == "on" and sync_commit == "on"
                        else "PostgreSQL is not configured to flush its WAL at commit",
                        server_version=server,
                        signed_checkpoints=-(-n // batch),
                    )
                    proof_pg = proofs_bastion(ws.ledger, ids_pg, picks) if picks else None
                finally:
                    ws.close()
            finally:
                _pg_admin(args.pg_url, f"DROP SCHEMA {schema} CASCADE")

        # -- pymerkle SqliteTree, as shipped -------------------------------------------
        tree = SqliteTree(str(tmpdir / "pymerkle-default.db"))
        try:
            pmode = _sqlite_mode(tree.con)
            secs = bench_pymerkle(tree, blobs, batch)
            record(
                "pymerkle-sqlite (as shipped)",
                secs,
                f"{pmode['journal_mode']}+{pmode['synchronous']}",
                _durability_note(pmode),
                sqlite_mode=pmode,
            )
        finally:
            tree.close()

        tree = SqliteTree(str(tmpdir / "pymerkle-default-json.db"))
        try:
            secs = bench_pymerkle(tree, blobs, batch, bodies=bodies)
            record(
                "pymerkle-sqlite (as shipped) + json.dumps",
                secs,
                f"{pmode['journal_mode']}+{pmode['synchronous']}",
                _durability_note(pmode) + "; events serialised (sorted-key json.dumps) in the "
                "timed loop, as Bastion canonicalises them",
                sqlite_mode=pmode,
            )
        finally:
            tree.close()

        # -- pymerkle SqliteTree with Bastion's WAL + FULL -----------------------------
        def wal_tree(path: Path) -> SqliteTree:
            t = SqliteTree(str(path))
            t.con.execute("PRAGMA journal_mode=WAL")
            t.con.execute("PRAGMA synchronous=FULL")
            return t

        tree = wal_tree(tmpdir / "pymerkle-wal.db")
        try:
            wmode = _sqlite_mode(tree.con)
            secs = bench_pymerkle(tree, blobs, batch)
            record(
                "pymerkle-sqlite (WAL+FULL, as Bastion)",
                secs,
                f"{wmode['journal_mode']}+{wmode['synchronous']}",
                _durability_note(wmode),
                sqlite_mode=wmode,
            )
            proof_p = proofs_pymerkle(tree, picks) if picks else None
        finally:
            tree.close()

        tree = wal_tree(tmpdir / "pymerkle-wal-root.db")
        try:
            secs = bench_pymerkle(tree, blobs, batch, root_per_batch=True)
            record(
                "pymerkle-sqlite (WAL+FULL) + root/batch",
                secs,
                f"{wmode['journal_mode']}+{wmode['synchronous']}",
                _durability_note(wmode) + "; get_root() after each batch: an unsigned, unstored "
                "tree head",
                sqlite_mode=wmode,
            )
        finally:
            tree.close()

        # -- pymerkle in memory: the upper bound -----------------------------------------
        mem = InmemoryTree()
        secs = bench_pymerkle(mem, blobs, batch)
        record("pymerkle-inmemory (upper bound)", secs, "none", "nothing is written to disk")
        proof_m = proofs_pymerkle(mem, picks) if picks else None

        concurrent: dict[str, Any] = {}
        if args.concurrent_events:
            print("\nconcurrent writers (group commit), single events, median of", args.runs)
            concurrent = bench_concurrent(
                tmpdir,
                None if args.no_postgres else args.pg_url,
                args.concurrent_events,
                args.runs,
                args.paced_seconds,
                args.pg_threads,
            )

    shipped = results["pymerkle-sqlite (as shipped)"]["events_per_s"]
    matched = results["pymerkle-sqlite (WAL+FULL, as Bastion)"]["events_per_s"]
    ours = results["bastion-sqlite"]["events_per_s"]
    ratio = ours / shipped
    ratio_matched = ours / matched
    same_input = results["pymerkle-sqlite (as shipped) + json.dumps"]["events_per_s"]
    ratio_same_input = ours / same_input

    print()
    c.print_table(
        ["contender", "events/s", "seconds", "durability"],
        [
            [k, c.fmt_rate(v["events_per_s"]), f"{v['seconds']:.2f}", v["durability"]]
            for k, v in results.items()
        ],
    )
    print()

    def verdict(r: float) -> str:
        return f"{r:.2f}x  (goal >= {GOAL_RATIO:.0f}x: {'met' if r >= GOAL_RATIO else 'NOT met'})"

    print(f"ratio bastion-sqlite / pymerkle-sqlite (as shipped):     {verdict(ratio)}")
    print(f"ratio bastion-sqlite / pymerkle-sqlite (WAL+FULL, same): {verdict(ratio_matched)}")
    print(f"ratio bastion-sqlite / pymerkle-sqlite + json.dumps:     {verdict(ratio_same_input)}")
    if "bastion-postgres" in results:
        pg_ratio = results["bastion-postgres"]["events_per_s"] / shipped
        print(f"ratio bastion-postgres / pymerkle-sqlite (as shipped):   {pg_ratio:.2f}x")
    notes.append(
        f"pymerkle's SqliteTree opens sqlite3 with the library defaults: "
        f"{results['pymerkle-sqlite (as shipped)']['durability']}: "
        f"{results['pymerkle-sqlite (as shipped)']['durability_detail']}"
    )
    notes.append(
        "Bastion does more per batch than pymerkle: it stores id, kind, actor, time and a "
        "leaf hash per event, and signs an Ed25519 C2SP checkpoint per batch; pymerkle stores "
        "(entry, hash) and has no checkpoints."
    )
    for line in notes:
        print("note: " + line)

    proofs: dict[str, Any] = {}
    if picks:
        print()
        rows = [["bastion-sqlite Ledger.inclusion_proof", proof_b]]
        if proof_pg is not None:
            rows.append(["bastion-postgres Ledger.inclusion_proof", proof_pg])
        rows += [
            ["pymerkle-sqlite prove_inclusion+verify", proof_p],
            ["pymerkle-inmemory prove_inclusion+verify", proof_m],
        ]
        c.print_table(
            [f"{len(picks)} inclusion proofs (tree of {n:,})", "seconds", "ms/proof"],
            [[name, f"{s:.3f}", f"{1000 * s / len(picks):.2f}"] for name, s in rows],
        )
        proofs = {
            name: {"seconds": round(s, 4), "ms_per_proof": round(1000 * s / len(picks), 3)}
            for name, s in rows
        }

    if concurrent:
        print()
        print_concurrent(concurrent)

    out = c.write_results(
        "ledger_append",
        {
            "concurrent": concurrent,
            "events": n,
            "batch": batch,
            "event_bytes_avg": round(sum(map(len, blobs)) / n, 1),
            "seed": args.seed,
            "contenders": results,
            "ratio_bastion_sqlite_over_pymerkle_sqlite": round(ratio, 3),
            "ratio_bastion_sqlite_over_pymerkle_sqlite_wal_full": round(ratio_matched, 3),
            "ratio_bastion_sqlite_over_pymerkle_sqlite_json": round(ratio_same_input, 3),
            "goal_ratio": GOAL_RATIO,
            "inclusion_proofs": {"count": len(picks), **proofs},
            "notes": notes,
        },
    )
    print(f"\nwrote {out.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
