"""Verification of stored events: one streaming scan per range of rows, then one merge.

``scan_rows`` is the loop every verify runs over stored rows in position order: it
re-hashes each event, checks its embedded position and id, its unhashed index columns
against the hashed envelope, and folds the leaves into a frontier, noting the root at each
signed checkpoint's size. A full verify over a large ledger splits the rows into ranges
of ``2**k`` rows (aligned, so each range is a perfect subtree of the tree) and scans them
in worker processes; :func:`assemble` then checks positions across range boundaries,
folds the ranges' roots into the real tree and compares every checkpoint. Memory is
bounded by the number of checkpoints and problems, never by the number of events.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bastion.core.canonical import canonical_json
from bastion.core.errors import InputError
from bastion.core.ledger._merkle import fold_subtrees, node_hash

__all__ = ["LedgerProblem", "Segment", "VerifyReport", "assemble", "scan_rows"]


@dataclass(frozen=True)
class LedgerProblem:
    """One thing verification found wrong, naming the event or checkpoint."""

    # edited | missing | inserted | reordered | duplicate | uncovered | checkpoint | head |
    # index, and evidence (the evidence table against the ledger, from deep_verify)
    kind: str
    message: str
    seq: int | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "event_id": self.event_id,
        }


@dataclass
class VerifyReport:
    size: int = 0
    checkpoints: int = 0
    latest_checkpoint: str | None = None
    root_hash: bytes | None = None
    problems: list[LedgerProblem] = field(default_factory=list)
    seconds: float = 0.0
    #: Where the check began: 0 for a full verify, the trusted size for ``since``.
    since: int = 0
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "since": self.since,
            "checked": self.size - self.since,
            "checkpoints": self.checkpoints,
            "root_hash": self.root_hash.hex() if self.root_hash else None,
            "latest_checkpoint": self.latest_checkpoint,
            "problems": [p.to_dict() for p in self.problems],
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
        }


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=256)
def _actor_json(actor: str) -> bytes:
    """Actors repeat across events; spell each once."""
    return canonical_json(actor)


def _as_bytes(v: object) -> bytes:
    """Column values as bytes, even when someone stored text into a blob column."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    return b""


def _column_iso(v: object) -> bytes:
    """A ``recorded_at`` column value as the event's own time string (b"" if unreadable):
    a datetime on PostgreSQL, text on SQLite."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return b""
    if not isinstance(v, datetime):
        return b""
    return _iso(v).encode()


def _column_json(v: object) -> bytes:
    if not isinstance(v, str):
        return b"\x00"  # matches nothing
    try:
        return _actor_json(v)
    except InputError:
        return b"\x00"


def _column_problem(column: str, value: object, seq: int, eid: str) -> LedgerProblem:
    shown = repr(value if not isinstance(value, bytes) else value.decode("utf-8", "replace"))
    return LedgerProblem(
        "edited",
        f"event {eid} at position {seq}: its {column} column ({shown[:120]}) does not match "
        "its hashed content: the column was edited",
        seq=seq,
        event_id=eid,
    )


_SEQ_MARK = b',"seq":'
_SEQ_LEN = len(_SEQ_MARK)
_MAX_SHIFT = 64
#: Rows between progress reports.
PROGRESS_EVERY = 50_000


@dataclass
class _Run:
    """Consecutive events whose stored position differs from their recorded one by ``shift``."""

    start: int
    shift: int | None
    first_id: str
    recorded: int | None
    before: tuple[tuple[int, str], ...]
    length: int = 0


@dataclass
class Segment:
    """What one scan of consecutive stored rows found (picklable: workers return it)."""

    start_size: int  # tree size the scan's frontier started from
    size: int = 0  # tree size at its end (start_size + rows)
    first_seq: int | None = None
    expected: int = 0  # the position expected after its last row
    problems: list[LedgerProblem] = field(default_factory=list)
    runs: list[_Run] = field(default_factory=list)
    hits: list[tuple[int, bytes]] = field(default_factory=list)  # (size, root) at checkpoints
    frontier: list[bytes] = field(default_factory=list)
    tail: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.size - self.start_size


def _deep_check(seq: int, eid: str, data: bytes, problems: list[LedgerProblem]) -> Any:
    try:
        body = json.loads(data)
        if canonical_json(body) != data:
            raise ValueError("not canonical")
    except (ValueError, InputError):
        problems.append(
            LedgerProblem(
                "edited",
                f"event {eid} at position {seq} is not canonical JSON",
                seq=seq,
                event_id=eid,
            )
        )
        return None
    return body if isinstance(body, dict) else None


def scan_rows(
    rows: Iterable[Sequence[Any]],
    *,
    expected: int,
    cp_sizes: Container[int],
    start_size: int = 0,
    frontier: Sequence[bytes] = (),
    deep: bool = False,
    visit: Callable[[int, dict[str, Any]], None] | None = None,
    tick: Callable[[int], None] | None = None,
) -> Segment:
    """Scan rows ``(seq, event_id, data, leaf_hash, kind, actor, recorded_at)`` in order.

    ``expected`` is the position the first row should have; ``frontier`` the tree's right
    edge at ``start_size`` (empty for a range scanned on its own, whose hits are then the
    range's own roots). ``cp_sizes`` are the verified checkpoint sizes: at each the root is
    noted. ``tick(rows)`` is called every :data:`PROGRESS_EVERY` rows.
    """
    seg = Segment(start_size=start_size)
    problems = seg.problems
    runs = seg.runs
    hits = seg.hits
    # The frontier is inlined (one perfect-subtree root per set bit of ``fsize``): this
    # loop runs once per event, and function calls are most of its cost in CPython.
    sha = hashlib.sha256
    fnodes: list[bytes] = list(frontier)
    recent: deque[tuple[int, str]] = deque(maxlen=_MAX_SHIFT)
    run: _Run | None = None
    last_ts: Any = object()
    time_tail = b"\x00"
    actor_heads: dict[Any, bytes] = {}
    kind_tails: dict[Any, bytes] = {}
    first = True
    fsize = start_size
    for seq, eid, data, lh, kcol, acol, tcol in rows:
        if type(seq) is not int:
            seq = int(seq)
        if type(eid) is not str:
            eid = str(eid)
        if type(data) is not bytes:
            data = _as_bytes(data)
        if type(lh) is not bytes:
            lh = _as_bytes(lh)
        if first:
            seg.first_seq = seq
            first = False
        if seq != expected:
            if seq > expected:
                problems.append(
                    LedgerProblem(
                        "missing",
                        f"positions {expected}..{seq - 1} are empty: events were deleted",
                        seq=expected,
                    )
                )
            else:
                problems.append(
                    LedgerProblem("duplicate", f"position {seq} appears twice", seq=seq)
                )
            expected = seq
        # The event's own top-level "seq", without a JSON parse: canonical key order puts
        # it after actor, data, id and kind and before time, none of which can hold the
        # marker, so the last occurrence is ours.
        i = data.rfind(_SEQ_MARK)
        emb: int | None = None
        if i >= 0:
            try:
                emb = int(data[i + _SEQ_LEN : data.find(b",", i + _SEQ_LEN)])
            except ValueError:
                emb = None
        shift = None if emb is None else seq - emb
        if run is None or run.shift != shift:
            run = _Run(seq, shift, eid, emb, tuple(recent))
            runs.append(run)
        run.length += 1
        recent.append((seq, eid))
        if emb is not None and b'"id":"' + eid.encode() + b'"' not in data:
            problems.append(
                LedgerProblem(
                    "edited",
                    f"event at position {seq}: its id column {eid} does not match its content",
                    seq=seq,
                    event_id=eid,
                )
            )
        if emb is not None:
            # The unhashed columns against the hashed envelope: actor opens it; kind
            # closes it just before the seq found above; time ends it. Each distinct
            # value's bytes are built once (a batch shares one time, actors repeat).
            if tcol != last_ts:
                last_ts = tcol
                iso = _column_iso(tcol)
                time_tail = b',"time":"' + iso + b'"}' if iso else b"\x00"
            opening = actor_heads.get(acol)
            if opening is None:
                opening = b'{"actor":' + _column_json(acol) + b',"data":'
                if len(actor_heads) < 4096:
                    actor_heads[acol] = opening
            if not data.startswith(opening):
                problems.append(_column_problem("actor", acol, seq, eid))
            kind_tail = kind_tails.get(kcol)
            if kind_tail is None:
                kind_tail = b'","kind":"' + _as_bytes(kcol) + b'"'
                if len(kind_tails) < 4096:
                    kind_tails[kcol] = kind_tail
            if not data.endswith(kind_tail, 0, i):
                problems.append(_column_problem("kind", kcol, seq, eid))
            if not data.endswith(time_tail):
                problems.append(_column_problem("recorded_at", tcol, seq, eid))
        actual = sha(b"\x00" + data).digest()
        if actual != lh:
            problems.append(
                LedgerProblem(
                    "edited",
                    f"event {eid} at position {seq} was edited: its content no longer "
                    "matches its recorded leaf hash",
                    seq=seq,
                    event_id=eid,
                )
            )
        if deep:
            body = _deep_check(seq, eid, data, problems)
            if visit is not None and body is not None:
                visit(seq, body)
        h, c = actual, fsize
        while c & 1:
            h = sha(b"\x01" + fnodes.pop() + h).digest()
            c >>= 1
        fnodes.append(h)
        fsize += 1
        expected += 1
        if expected in cp_sizes:
            hits.append((expected, fold_subtrees(fnodes)))
        if tick is not None and (fsize - start_size) % PROGRESS_EVERY == 0:
            tick(fsize - start_size)
    seg.size = fsize
    seg.expected = expected
    seg.frontier = fnodes
    seg.tail = list(recent)
    return seg


def _heights(size: int) -> list[int]:
    """Heights of a frontier's perfect subtrees, largest first (one per set bit)."""
    return [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]


def assemble(
    segments: Sequence[Segment], cp_roots: dict[int, tuple[bytes, str]], rep: VerifyReport
) -> int:
    """Merge scans of consecutive row ranges into ``rep``; return the position expected next.

    Adds the problems found at range boundaries, joins the position runs that cross them,
    folds each range's frontier into the tree's and checks every checkpoint root."""
    prefix: list[tuple[int, bytes]] = []  # the tree's frontier: (height, root), largest first
    runs: list[_Run] = []
    tail: list[tuple[int, str]] = []
    expected: int | None = None
    bad_roots: list[int] = []
    prev_cp = segments[0].start_size if segments else 0
    for seg in segments:
        if expected is not None and seg.first_seq is not None and seg.first_seq != expected:
            rep.problems.append(
                LedgerProblem(
                    "missing",
                    f"positions {expected}..{seg.first_seq - 1} are empty: events were deleted",
                    seq=expected,
                )
            )
        rep.problems.extend(seg.problems)
        for j, r in enumerate(seg.runs):
            if j == 0 and runs and runs[-1].shift == r.shift:
                runs[-1].length += r.length
                continue
            if len(r.before) < _MAX_SHIFT and tail:
                r.before = (*tail, *r.before)[-_MAX_SHIFT:]
            runs.append(r)
        tail = (tail + seg.tail)[-_MAX_SHIFT:]
        left = [h for _, h in prefix]
        for size, local in seg.hits:
            root = fold_subtrees([*left, local]) if left else local
            if root != cp_roots[size][0]:
                bad_roots.append(prev_cp)
                bad_roots.append(size)
            prev_cp = size
        for height, node in zip(_heights(seg.size), seg.frontier, strict=True):
            while prefix and prefix[-1][0] == height:
                node = node_hash(prefix.pop()[1], node)
                height += 1
            prefix.append((height, node))
        if seg.first_seq is not None or expected is None:
            expected = seg.expected
    rep.problems.extend(_classify_runs(runs))
    if bad_roots:
        lo, hi = bad_roots[0], bad_roots[1]
        more = len(bad_roots) // 2 - 1
        rep.problems.append(
            LedgerProblem(
                "edited",
                f"the tree of size {hi} does not match its signed checkpoint: an event at "
                f"positions {lo}..{hi - 1} was altered"
                + (f" ({more} later checkpoints fail too)" if more else ""),
                seq=lo,
            )
        )
    rep.root_hash = fold_subtrees([h for _, h in prefix])
    return expected or 0


def _classify_runs(runs: list[_Run]) -> list[LedgerProblem]:
    """Turn runs of position shifts into named insertions, deletions and reorderings."""
    out: list[LedgerProblem] = []
    singles = {r.start: r for r in runs if r.length == 1 and r.shift}
    for r in runs:
        if r.shift == 0:
            continue
        if r.shift is None:
            out.append(
                LedgerProblem(
                    "edited",
                    f"event {r.first_id} at position {r.start} has no recorded position "
                    "(its content was replaced)",
                    seq=r.start,
                    event_id=r.first_id,
                )
            )
            continue
        partner = singles.get(r.recorded) if r.recorded is not None else None
        if r.length == 1 and partner is not None and partner.recorded == r.start:
            out.append(
                LedgerProblem(
                    "reordered",
                    f"event {r.first_id} was recorded at position {r.recorded} but is "
                    f"stored at position {r.start}: events were reordered",
                    seq=r.start,
                    event_id=r.first_id,
                )
            )
        elif r.shift > 0:
            inserted = [eid for seq, eid in r.before if seq >= r.start - r.shift]
            names = ", ".join(inserted) if inserted else f"{r.shift} event(s)"
            out.append(
                LedgerProblem(
                    "inserted",
                    f"{r.shift} event(s) were inserted before position {r.start} "
                    f"(stored at {r.start - r.shift}..{r.start - 1}: {names}); event "
                    f"{r.first_id} was recorded at position {r.recorded}",
                    seq=r.start - r.shift,
                    event_id=inserted[0] if inserted else None,
                )
            )
        else:
            out.append(
                LedgerProblem(
                    "missing",
                    f"{-r.shift} event(s) recorded at positions {r.start}..{r.start - r.shift - 1} "
                    f"were deleted (event {r.first_id}, recorded at {r.recorded}, now sits at "
                    f"{r.start})",
                    seq=r.start,
                    event_id=r.first_id,
                )
            )
    return out


# -- worker processes ------------------------------------------------------------------------
#
# A worker is ``python -m bastion.core.ledger._verify``: its request (the database URL
# included, so never on a command line) comes as JSON on stdin; it answers with progress
# lines ``P <rows>`` and one ``R <json>`` line holding its Segment. Plain subprocesses, not
# multiprocessing: nothing of the parent (its main module, its threads) is re-run or forked.


def segment_to_json(seg: Segment) -> dict[str, Any]:
    return {
        "start_size": seg.start_size,
        "size": seg.size,
        "first_seq": seg.first_seq,
        "expected": seg.expected,
        "problems": [p.to_dict() for p in seg.problems],
        "runs": [
            [r.start, r.shift, r.first_id, r.recorded, [list(b) for b in r.before], r.length]
            for r in seg.runs
        ],
        "hits": [[size, root.hex()] for size, root in seg.hits],
        "frontier": [h.hex() for h in seg.frontier],
        "tail": [list(t) for t in seg.tail],
    }


def segment_from_json(d: dict[str, Any]) -> Segment:
    return Segment(
        start_size=int(d["start_size"]),
        size=int(d["size"]),
        first_seq=None if d["first_seq"] is None else int(d["first_seq"]),
        expected=int(d["expected"]),
        problems=[
            LedgerProblem(str(p["kind"]), str(p["message"]), p["seq"], p["event_id"])
            for p in d["problems"]
        ],
        runs=[
            _Run(
                int(r[0]),
                None if r[1] is None else int(r[1]),
                str(r[2]),
                None if r[3] is None else int(r[3]),
                tuple((int(a), str(b)) for a, b in r[4]),
                int(r[5]),
            )
            for r in d["runs"]
        ],
        hits=[(int(size), bytes.fromhex(root)) for size, root in d["hits"]],
        frontier=[bytes.fromhex(h) for h in d["frontier"]],
        tail=[(int(a), str(b)) for a, b in d["tail"]],
    )


def select_rows(sqlite: bool, lo: int | None, hi: int | None) -> tuple[str, tuple[int, ...]]:
    """The rows with ``lo <= seq < hi`` (either bound may be open), in position order."""
    ph = "?" if sqlite else "%s"
    where: list[str] = []
    params: list[int] = []
    if lo is not None:
        where.append(f"seq >= {ph}")
        params.append(lo)
    if hi is not None:
        where.append(f"seq < {ph}")
        params.append(hi)
    sql = "SELECT seq, event_id, data, leaf_hash, kind, actor, recorded_at FROM ledger_entries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY seq", tuple(params)


def row_cursor(raw: Any, sqlite: bool) -> Any:
    """A cursor that streams a large result: SQLite's does; on PostgreSQL a named
    (server-side) cursor, or the driver would hold every row in memory at once."""
    if sqlite:
        return raw.cursor()
    return raw.cursor(name=f"ledger_scan_{uuid.uuid4().hex[:12]}")


def fetch(cur: Any, batch: int = 20_000) -> Iterator[Sequence[Any]]:
    while rows := cur.fetchmany(batch):
        yield from rows


def scan_range(
    url: str,
    lo: int | None,
    hi: int | None,
    expected: int,
    cp_sizes: Container[int],
    tick: Callable[[int], None] | None = None,
) -> Segment:
    """Scan the rows with ``lo <= seq < hi`` on a connection of its own."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        raw = engine.raw_connection()
        try:
            sqlite = engine.dialect.name == "sqlite"
            cur = row_cursor(raw, sqlite)
            cur.execute(*select_rows(sqlite, lo, hi))
            seg = scan_rows(fetch(cur), expected=expected, cp_sizes=cp_sizes, tick=tick)
            cur.close()
            return seg
        finally:
            raw.close()
    finally:
        engine.dispose()


def _worker_main() -> int:
    import sys

    req = json.loads(sys.stdin.read())  # from the parent process, which started this one
    out = sys.stdout

    def tick(done: int) -> None:
        out.write(f"P {done}\n")
        out.flush()

    seg = scan_range(
        str(req["url"]),
        req["lo"],
        req["hi"],
        int(req["expected"]),
        frozenset(int(x) for x in req["cp_sizes"]),
        tick,
    )
    out.write("R " + json.dumps(segment_to_json(seg), separators=(",", ":")) + "\n")
    out.flush()
    return 0


def run_workers(
    url: str,
    ranges: Sequence[tuple[int | None, int | None, int]],
    cp_sizes: frozenset[int],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> list[Segment]:
    """Scan each ``(lo, hi, expected)`` range in a worker process of its own, all at once;
    their Segments in order. LedgerError when a worker fails (nothing is half-trusted)."""
    import subprocess
    import sys
    import tempfile
    import threading

    from bastion.core.errors import LedgerError

    n = len(ranges)
    done = [0] * n
    results: list[Segment | None] = [None] * n
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []
    cps = sorted(cp_sizes)

    def talk(i: int, proc: subprocess.Popen[bytes], req: bytes) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(req)
            proc.stdin.close()
            for line in proc.stdout:
                if line.startswith(b"P "):
                    done[i] = int(line[2:])
                elif line.startswith(b"R "):
                    results[i] = segment_from_json(json.loads(line[2:]))
        except (OSError, ValueError, KeyError, TypeError):
            results[i] = None
        finally:
            proc.wait()

    try:
        threads = []
        for i, (lo, hi, exp) in enumerate(ranges):
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
            logs.append(log)
            proc = subprocess.Popen(
                [sys.executable, "-m", "bastion.core.ledger._verify"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            procs.append(proc)
            req = {"url": url, "lo": lo, "hi": hi, "expected": exp, "cp_sizes": cps}
            t = threading.Thread(target=talk, args=(i, proc, json.dumps(req).encode()))
            t.daemon = True
            t.start()
            threads.append(t)
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.25)
                if progress is not None:
                    progress(min(sum(done), total), total)
        out: list[Segment] = []
        for i, seg in enumerate(results):
            if seg is None:
                logs[i].seek(0)
                lines = logs[i].read()[-4000:].decode("utf-8", "replace").strip().splitlines()
                why = lines[-1][:200] if lines else f"exit status {procs[i].returncode}"
                raise LedgerError(
                    f"ledger verify worker {i + 1} of {n} failed ({why}); nothing was "
                    "verified: retry, or verify in one process (workers=1)"
                )
            out.append(seg)
        return out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


if __name__ == "__main__":
    raise SystemExit(_worker_main())
