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
from bastion.core.workspace import Workspace, init_workspace

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
    args = p.parse_args(argv)

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

    out = c.write_results(
        "ledger_append",
        {
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
