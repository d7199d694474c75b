"""Claim: ``bastion ledger verify`` checks a 1,000,000-event SQLite ledger in at most 5 s.

The default verify splits the rows over one worker process per core (``--workers``); the
one-process verify (``workers=1``) is timed beside it, and so is the incremental verify
(``--since-checkpoint``) of the last 10,000 events, what a monitor runs every minute.

``Ledger.verify()`` reads every stored event, re-hashes it, checks it against its recorded
leaf hash, position and id, rebuilds the RFC 9162 tree and compares the root at every
signed checkpoint (each Ed25519 signature is verified too).

The ledger is built through the normal append path, in appends of ``--build-batch`` events
(each one a real signed checkpoint), and cached under ``benchmarks/results/cache/`` keyed by
event count and seed, so reruns skip the build. The peer, pymerkle, gets the very same
leaf bytes (Bastion's stored canonical events, read back from its database) in a
``SqliteTree``; both are RFC 9162 trees, so both roots must be equal, and the script checks
that they are. pymerkle has no verify command; the closest equivalents, both timed:

* ``pymerkle-rebuild``: read every stored entry from pymerkle's SQLite file, re-hash it and
  rebuild the tree with pymerkle's own code (``InmemoryTree.append_entries``), then
  ``get_root()``. This is the same work as Bastion's core loop, without Bastion's per-event
  id/position checks and checkpoint comparisons.
* ``pymerkle-root``: ``SqliteTree.get_root()`` on a freshly opened tree (cold cache): the
  root from the stored leaf hashes, without re-hashing the entries (a weaker check: an
  edited entry whose stored hash was left alone is not noticed).

Run from the repository root: ``.venv/bin/python benchmarks/ledger_verify.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common as c
from pymerkle import InmemoryTree, SqliteTree

from bastion.core.ledger import Event
from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace

GOAL_SECONDS = 5.0
CACHE_VERSION = 1  # bump when the event generator or the build changes


def _cache_dir(n: int, seed: int) -> Path:
    return c.CACHE_DIR / f"ledger-verify-{n}-s{seed}-v{CACHE_VERSION}"


def _stored_blobs(db: Path, chunk: int = 20_000) -> Iterator[list[bytes]]:
    """Bastion's stored leaf data, in order, read straight from its SQLite file."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cur = con.execute("SELECT data FROM ledger_entries ORDER BY seq")
        while rows := cur.fetchmany(chunk):
            yield [bytes(r[0]) for r in rows]
    finally:
        con.close()


def build(n: int, seed: int, batch: int) -> Path:
    """Build (or reuse) the cached ledger and the pymerkle tree over the same leaves."""
    final = _cache_dir(n, seed)
    if (final / "done").exists():
        print(f"using cached ledger {final.relative_to(c.ROOT)}")
        return final
    c.ensure_ignored_dir(c.CACHE_DIR)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"building a {n:,}-event ledger in appends of {batch:,} (cached for reruns) ...")
    ws, _ = init_workspace(get_settings(home=partial / "home", database_url=None))
    try:
        ledger = ws.ledger
        pending: list[Event] = []

        def flush() -> None:
            ledger.append(pending)
            pending.clear()

        def run() -> None:
            for i, body in enumerate(c.iter_events(n, seed), 1):
                pending.append(Event(c.EVENT_KIND, body, c.EVENT_ACTOR))
                if len(pending) == batch:
                    flush()
                    if i % (batch * 10) == 0:
                        print(f"  {i:,} / {n:,}", flush=True)
            if pending:
                flush()

        secs, _ = c.timed(run)
    finally:
        ws.close()
    print(
        f"  built in {secs:.1f} s ({c.fmt_rate(c.rate(n, secs))} events/s incl. event generation)"
    )
    tree = SqliteTree(str(partial / "pymerkle.db"))
    try:
        for blobs in _stored_blobs(partial / "home" / "bastion.db"):
            tree.append_entries(blobs)
    finally:
        tree.close()
    (partial / "done").write_text(f"{n} events, build {secs:.1f} s, batch {batch}\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    return final


def _checkpoint_sizes(ws: Workspace) -> list[int]:
    from sqlalchemy import text

    with ws.db.engine.connect() as conn:
        return [int(x) for x in conn.execute(text("SELECT size FROM ledger_checkpoints")).scalars()]


def open_ledger(cache: Path) -> Workspace:
    ws, new = init_workspace(get_settings(home=cache / "home", database_url=None))
    assert not new, "the cached workspace should already exist"
    return ws


def pymerkle_rebuild(db: Path) -> bytes:
    tree = InmemoryTree()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cur = con.execute("SELECT entry FROM leaf ORDER BY id")
        while rows := cur.fetchmany(20_000):
            tree.append_entries([r[0] for r in rows])
    finally:
        con.close()
    return tree.get_root()


def pymerkle_root(db: Path) -> bytes:
    tree = SqliteTree(str(db))
    try:
        return tree.get_root()
    finally:
        tree.close()


def profile_verify(ws: Workspace, top: int = 25) -> tuple[str, list[dict[str, Any]]]:
    prof = cProfile.Profile()
    prof.enable()
    ws.ledger.verify(workers=1)  # a profile sees this process only
    prof.disable()
    out = c.ensure_ignored_dir(c.CACHE_DIR) / "ledger_verify.prof"
    prof.dump_stats(out)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (file, line, func), (_cc, ncalls, tt, ct, _callers) in sorted(
        raw.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({func})",
                "calls": ncalls,
                "tottime_s": round(tt, 3),
                "cumtime_s": round(ct, 3),
            }
        )
    return buf.getvalue(), rows


def _line(name: str, seconds: float, size: int, extra: str = "") -> None:
    print(f"  {name:<30} {seconds:7.2f} s  {c.fmt_rate(c.rate(size, seconds)):>10} events/s{extra}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=1_000_000, help="ledger size (default 1000000)")
    p.add_argument(
        "--build-batch", type=int, default=10_000, help="events per append while building"
    )
    p.add_argument("--runs", type=int, default=3, help="timed runs per contender (median reported)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile one verify: auto = only when the goal is missed",
    )
    args = p.parse_args(argv)
    n = args.events
    info = c.machine_info()
    print(
        f"ledger_verify: {n:,} events, median of {args.runs}, {info['cpu_model']} x{info['cores']}"
    )

    cache = build(n, args.seed, args.build_batch)
    db_bytes = (cache / "home" / "bastion.db").stat().st_size
    ws = open_ledger(cache)
    try:
        med, samples, rep = c.median_of(args.runs, ws.ledger.verify)
        one_med, one_samples, one_rep = c.median_of(args.runs, lambda: ws.ledger.verify(workers=1))
        since_size = max(0, rep.size - 10_000)
        if since_size not in {int(x) for x in _checkpoint_sizes(ws)}:
            since_size = max(s for s in _checkpoint_sizes(ws) if s <= rep.size - 1)
        inc_med, inc_samples, inc_rep = c.median_of(
            args.runs, lambda: ws.ledger.verify(since=since_size)
        )
        if not (one_rep.ok and inc_rep.ok and one_rep.root_hash == rep.root_hash):
            print("the one-process or incremental verify disagrees with the full verify")
            return 1
        if not rep.ok:
            print(
                "verify found problems in the benchmark ledger:",
                [p.message for p in rep.problems[:5]],
            )
            return 1
        ours_root = rep.root_hash
        size, checkpoints = rep.size, rep.checkpoints
        runs = ", ".join(f"{s:.2f}" for s in samples)
        _line(
            f"bastion verify ({rep.workers} workers)",
            med,
            size,
            f"  (runs: {runs}; {checkpoints} checkpoints)",
        )
        _line("bastion verify (1 process)", one_med, size)
        _line(f"bastion verify --since {since_size:,}", inc_med, size - since_size)

        pdb = cache / "pymerkle.db"
        rb_med, rb_samples, rb_root = c.median_of(args.runs, lambda: pymerkle_rebuild(pdb))
        _line("pymerkle rebuild (rehash)", rb_med, size)
        rt_med, rt_samples, rt_root = c.median_of(args.runs, lambda: pymerkle_root(pdb))
        _line("pymerkle get_root (no rehash)", rt_med, size)
        roots_match = ours_root == rb_root == rt_root

        goal_met = med < GOAL_SECONDS
        profile_text, profile_rows = "", []
        if args.profile == "always" or (args.profile == "auto" and not goal_met):
            print("\nprofiling one verify with cProfile (slower than the timed runs) ...")
            profile_text, profile_rows = profile_verify(ws)
    finally:
        ws.close()

    print()
    c.print_table(
        ["contender", "seconds (median)", "events/s", "what it checks"],
        [
            [
                f"bastion Ledger.verify() ({rep.workers} workers)",
                f"{med:.2f}",
                c.fmt_rate(c.rate(size, med)),
                "rehash, ids, positions, every signed checkpoint",
            ],
            [
                "bastion Ledger.verify(workers=1)",
                f"{one_med:.2f}",
                c.fmt_rate(c.rate(size, one_med)),
                "the same, in one process",
            ],
            [
                f"bastion verify --since-checkpoint (last {size - since_size:,})",
                f"{inc_med:.3f}",
                c.fmt_rate(c.rate(size - since_size, inc_med)),
                "new events, later checkpoints, consistency proof",
            ],
            [
                "pymerkle rebuild from entries",
                f"{rb_med:.2f}",
                c.fmt_rate(c.rate(size, rb_med)),
                "rehash + root",
            ],
            [
                "pymerkle SqliteTree.get_root()",
                f"{rt_med:.2f}",
                c.fmt_rate(c.rate(size, rt_med)),
                "root from stored hashes",
            ],
        ],
    )
    print()
    print(
        f"bastion verify of {size:,} events: {med:.2f} s (goal < {GOAL_SECONDS:.0f} s: "
        f"{'met' if goal_met else 'NOT met'})"
    )
    print(
        f"ratio pymerkle-rebuild time / bastion verify time: {rb_med / med:.2f}x "
        "(above 1: Bastion is faster)"
    )
    print(f"ratio pymerkle-get_root time / bastion verify time: {rt_med / med:.2f}x")
    equal = "yes" if roots_match else "NO"
    print(f"roots equal (Bastion, pymerkle rebuild, pymerkle stored): {equal}")
    if profile_text:
        print("\ncProfile of one verify, by own time:\n")
        print("\n".join(profile_text.strip().splitlines()[:45]))

    out = c.write_results(
        "ledger_verify",
        {
            "events": n,
            "ledger_size": size,
            "checkpoints": checkpoints,
            "seed": args.seed,
            "build_batch": args.build_batch,
            "database_bytes": db_bytes,
            "runs": args.runs,
            "goal_seconds": GOAL_SECONDS,
            "goal_met": goal_met,
            "bastion_verify": {
                "workers": rep.workers,
                "median_s": round(med, 3),
                "samples_s": [round(s, 3) for s in samples],
                "events_per_s": round(c.rate(size, med), 1),
            },
            "bastion_verify_one_process": {
                "median_s": round(one_med, 3),
                "samples_s": [round(s, 3) for s in one_samples],
                "events_per_s": round(c.rate(size, one_med), 1),
            },
            "bastion_verify_since": {
                "since": since_size,
                "events_checked": size - since_size,
                "median_s": round(inc_med, 4),
                "samples_s": [round(s, 4) for s in inc_samples],
            },
            "pymerkle_rebuild": {
                "median_s": round(rb_med, 3),
                "samples_s": [round(s, 3) for s in rb_samples],
                "events_per_s": round(c.rate(size, rb_med), 1),
                "what": "read entries from its SqliteTree file, InmemoryTree.append_entries "
                "(re-hash every entry), get_root()",
            },
            "pymerkle_get_root": {
                "median_s": round(rt_med, 3),
                "samples_s": [round(s, 3) for s in rt_samples],
                "events_per_s": round(c.rate(size, rt_med), 1),
                "what": "SqliteTree.get_root() on a freshly opened tree: root from the stored "
                "leaf hashes, entries not re-hashed",
            },
            "ratio_pymerkle_rebuild_over_bastion": round(rb_med / med, 3),
            "ratio_pymerkle_get_root_over_bastion": round(rt_med / med, 3),
            "roots_equal": roots_match,
            "root_hash": ours_root.hex() if ours_root else None,
            "profile_top_by_tottime": profile_rows,
        },
    )
    print(f"\nwrote {out.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
