"""The stored ledger: an append-only RFC 9162 Merkle log with C2SP signed checkpoints.

Every append is one transaction that writes the events, advances the tree's frontier and
stores a checkpoint signed over the new root. Appends serialise on the single
``ledger_head`` row (its UPDATE is the transaction's first statement, which takes the write
lock on SQLite and a row lock on PostgreSQL), so two writers can never interleave.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from bastion.core.canonical import canonical_json
from bastion.core.errors import (
    InputError,
    LedgerError,
    NotFoundError,
    StorageError,
)
from bastion.core.ledger._commit import GroupCommitter, Ticket
from bastion.core.ledger._merkle import (
    Frontier,
    ProofError,
    consistency_proof,
    consistency_ranges,
    fold_subtrees,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    perfect_root,
    perfect_subtrees,
    verify_consistency,
    verify_inclusion,
)
from bastion.core.ledger._note import (
    Checkpoint,
    CheckpointSigner,
    NoteError,
    verify_checkpoint,
)
from bastion.core.ledger._tables import (
    ENTRIES,
    NODE_STRIDE,
    NODES,
    LedgerCheckpointRow,
    LedgerEntryRow,
    LedgerHeadRow,
    LedgerNodeRow,
)
from bastion.core.ledger._verify import (
    LedgerProblem,
    Segment,
    VerifyReport,
    _actor_json,
    _as_bytes,
    _iso,
    assemble,
    fetch,
    row_cursor,
    run_workers,
    scan_rows,
    select_rows,
)
from bastion.core.storage import Database

__all__ = [
    "Entry",
    "Event",
    "InclusionProof",
    "Ledger",
    "LedgerProblem",
    "VerifyReport",
    "encode_event",
]

# The ORM tables live in _tables.py; these names stay importable from here.
_TABLES = (LedgerCheckpointRow, LedgerEntryRow, LedgerHeadRow, LedgerNodeRow, NODE_STRIDE)

#: From this many events on, a full verify scans in one worker process per core.
PARALLEL_MIN_EVENTS = 200_000


def _default_workers(total: int) -> int:
    if total < PARALLEL_MIN_EVENTS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
MAX_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Event:
    """An event to append. ``data`` must be JSON (RFC 8785 canonicalisable) and hold no secrets."""

    kind: str
    data: Mapping[str, Any]
    actor: str = "system"


@dataclass(frozen=True)
class Entry:
    """An appended event, as stored."""

    seq: int
    event_id: str
    kind: str
    actor: str
    recorded_at: datetime
    data: dict[str, Any]
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.event_id,
            "kind": self.kind,
            "actor": self.actor,
            "time": _iso(self.recorded_at),
            "data": self.data,
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class InclusionProof:
    """An audit path from one event's leaf to the root of a signed checkpoint."""

    event_id: str
    seq: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes
    path: tuple[bytes, ...]
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "leaf_index": self.seq,
            "leaf_hash": self.leaf_hash.hex(),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "inclusion_path": [h.hex() for h in self.path],
            "checkpoint": self.checkpoint,
        }

    def verify(self) -> None:
        """Recompute the root from the path (raises ProofError on mismatch)."""
        verify_inclusion(self.leaf_hash, self.seq, self.tree_size, self.path, self.root_hash)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def encode_event(seq: int, event_id: str, kind: str, actor: str, ts: datetime, data: Any) -> bytes:
    """The leaf data of an event: its RFC 8785 canonical JSON, position included.

    Embedding ``seq`` and ``id`` lets verification name a deleted, inserted or reordered
    event, not just notice that a root changed.
    """
    return _encode(seq, event_id, kind, canonical_json(actor), _iso(ts), canonical_json(data))


def _encode(
    seq: int, event_id: str, kind: str, actor_json: bytes, iso: str, data_json: bytes
) -> bytes:
    """Assemble the canonical event around already-canonical parts.

    The envelope's keys are fixed and already in RFC 8785 order; ``event_id`` (a UUID),
    ``kind`` (validated against ``_KIND``) and ``iso`` need no escaping. Equal to
    ``canonical_json`` of the whole event, which a test checks.
    """
    return b"".join(
        (
            b'{"actor":', actor_json, b',"data":', data_json, b',"id":"', event_id.encode(),
            b'","kind":"', kind.encode(), b'","seq":', str(seq).encode(), b',"time":"',
            iso.encode(), b'"}',
        )
    )  # fmt: skip


def _parse_iso(v: object) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


#: An event prepared once: kind, actor, canonical actor, data, canonical data.
_Prepared = tuple[str, str, bytes, dict[str, Any], bytes]

#: The envelope around an event's kind, actor and data at its largest (a 19-digit position).
_ENVELOPE_BYTES = len(
    _encode(2**63 - 1, str(uuid.UUID(int=0)), "", b"", _iso(datetime(2000, 1, 1, tzinfo=UTC)), b"")
)


class Ledger:
    """Append, read, prove and verify. ``private_key`` is needed only to append."""

    def __init__(
        self,
        db: Database,
        public_key: Ed25519PublicKey,
        private_key: Ed25519PrivateKey | None = None,
        origin: str = "bastion.local/ledger",
    ) -> None:
        self.db = db
        self.public_key = public_key
        self.private_key = private_key
        self.origin = origin

    # -- writing ---------------------------------------------------------------------------

    def append(self, events: Sequence[Event], session: Session | None = None) -> list[Entry]:
        """Append events (contiguously) under a signed checkpoint; durable on return.

        With ``session`` the caller's transaction is used (so evidence and its ledger entry
        commit together, in the caller's commit). Without, the events go to the group
        committer: concurrent callers' events share one transaction, one frontier update
        and one signed checkpoint, and each call returns once its batch is committed
        (fsynced), with its positions. A full commit queue raises
        :class:`~bastion.core.errors.LedgerBusyError` and appends nothing.
        """
        if not events:
            return []
        if self.private_key is None:
            raise LedgerError("this ledger handle has no signing key; cannot append")
        prepared = [self._validate(e) for e in events]
        if session is not None:
            return self._append_in_session(prepared, session)
        return self.committer.submit(prepared, sum(len(p[4]) for p in prepared))

    @property
    def committer(self) -> GroupCommitter[_Prepared, Entry]:
        """This handle's group committer (one per handle and process; handles and processes
        serialise in the database). A forked child gets a fresh one: it never shares a
        committer's lock or connection with its parent."""
        got = self.__dict__.get("_committer")
        if got is None or got[0] != os.getpid():
            self.__dict__.pop("_commit_conn", None)  # the parent's: not ours to use or close
            got = (os.getpid(), GroupCommitter(self._write_batch))
            self.__dict__["_committer"] = got
        return cast(GroupCommitter[_Prepared, Entry], got[1])

    def _build(
        self, prepared: Sequence[_Prepared], frontier: Frontier, now: datetime
    ) -> tuple[list[tuple[Any, ...]], list[Entry], list[tuple[int, int, bytes]], bytes, str]:
        """Encode, hash and sign: the rows ``(seq, event_id, kind, actor, data, leaf_hash)``,
        the entries, the completed index nodes, the new root and its signed checkpoint."""
        assert self.private_key is not None
        rows: list[tuple[Any, ...]] = []
        entries: list[Entry] = []
        nodes: list[tuple[int, int, bytes]] = []
        iso = _iso(now)
        sha = hashlib.sha256
        uuid4 = uuid.uuid4
        for kind, actor, actor_json, data, data_json in prepared:
            seq = frontier.size
            event_id = str(uuid4())
            blob = _encode(seq, event_id, kind, actor_json, iso, data_json)
            lh = sha(b"\x00" + blob).digest()
            frontier.append_tracking(lh, NODE_STRIDE, nodes)
            rows.append((seq, event_id, kind, actor, blob, lh))
            entries.append(Entry(seq, event_id, kind, actor, now, data, lh))
        root = frontier.root()
        note = self._signer.sign(Checkpoint(self.origin, frontier.size, root))
        return rows, entries, nodes, root, note

    @functools.cached_property
    def _signer(self) -> CheckpointSigner:
        assert self.private_key is not None
        return CheckpointSigner(self.origin, self.private_key)

    def _append_in_session(self, prepared: Sequence[_Prepared], s: Session) -> list[Entry]:
        # First statement is a write: takes the lock before we read the head.
        s.execute(
            update(LedgerHeadRow).where(LedgerHeadRow.id == 1).values(size=LedgerHeadRow.size)
        )
        head = s.get(LedgerHeadRow, 1, populate_existing=True)
        if head is None:
            raise LedgerError("ledger head row is missing: the database is damaged")
        frontier = Frontier.from_bytes(head.size, head.frontier)
        now = datetime.now(UTC)
        rows, entries, nodes, root, note = self._build(prepared, frontier, now)
        cols = ("seq", "event_id", "kind", "actor", "data", "leaf_hash")
        s.execute(
            insert(ENTRIES), [dict(zip(cols, r, strict=True)) | {"recorded_at": now} for r in rows]
        )
        if nodes:
            s.execute(insert(NODES), [{"height": h, "idx": i, "hash": v} for h, i, v in nodes])
        s.execute(
            insert(LedgerCheckpointRow).values(
                size=frontier.size, root_hash=root, note=note, created_at=now
            )
        )
        head.size = frontier.size
        head.root_hash = root
        head.frontier = frontier.to_bytes()
        s.flush()
        return entries

    def _write_batch(self, tickets: Sequence[Ticket[_Prepared, Entry]]) -> None:
        """One transaction for a group commit, on the raw driver connection: lock the
        head, insert every event, the index nodes and one signed checkpoint, advance the head,
        commit. SQLite: the first UPDATE takes the database's write lock (WAL,
        synchronous=FULL: the commit fsyncs the log); executemany. PostgreSQL: it row-locks
        the head, which serialises writer processes; everything else is one statement (the
        rows as arrays), and the connection runs in autocommit mode with an explicit
        BEGIN (sent with the locking read) and COMMIT (pipelined with the batch statement):
        two round trips in all, the second waiting for the WAL flush."""
        sqlite = self.db.is_sqlite
        raw = self._committer_connection()
        try:
            cur = raw.cursor()
            try:
                if sqlite:
                    cur.execute(_LOCK_HEAD)
                else:
                    # The connection is in autocommit mode: BEGIN and the locking read go in
                    # one simple-query round trip.
                    cur.execute("BEGIN; " + _LOCK_HEAD)
                    cur.nextset()
                got = cur.fetchone()
                if got is None:
                    raise LedgerError("ledger head row is missing: the database is damaged")
                frontier = Frontier.from_bytes(int(got[0]), _as_bytes(got[1]))
                now = datetime.now(UTC)
                prepared = [p for t in tickets for p in t.items]
                rows, entries, nodes, root, note = self._build(prepared, frontier, now)
                if sqlite:
                    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
                    cur.executemany(
                        "INSERT INTO ledger_entries (seq, event_id, kind, actor, data, "
                        "leaf_hash, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(*r, stamp) for r in rows],
                    )
                    if nodes:
                        cur.executemany(
                            "INSERT INTO ledger_nodes (height, idx, hash) VALUES (?, ?, ?)", nodes
                        )
                    cur.execute(
                        "INSERT INTO ledger_checkpoints (size, root_hash, note, created_at) "
                        "VALUES (?, ?, ?, ?)",
                        (frontier.size, root, note, stamp),
                    )
                    cur.execute(
                        "UPDATE ledger_head SET size = ?, root_hash = ?, frontier = ? WHERE id = 1",
                        (frontier.size, root, frontier.to_bytes()),
                    )
                    raw.commit()
                else:
                    # One round trip for the whole batch and its COMMIT while the head's row
                    # lock is held: the entries and nodes as arrays (unnest), the checkpoint
                    # and the head in one statement, pipelined with the COMMIT.
                    with raw.driver_connection.pipeline():
                        cur.execute(
                            _PG_BATCH, _pg_batch_params(rows, nodes, frontier, root, note, now)
                        )
                        cur.execute("COMMIT")
            finally:
                cur.close()
        except BaseException as exc:
            self._drop_committer_connection(raw)  # rolled back and closed: never reused
            if isinstance(exc, self._driver_errors()):
                raise StorageError(
                    f"database error: {type(exc).__name__}: "
                    f"{exc.args[0] if exc.args else ''!s:.300}"
                ) from exc
            raise
        at = 0
        for t in tickets:
            t.result = entries[at : at + len(t.items)]
            at += len(t.items)

    def _committer_connection(self) -> Any:
        """The connection group commits use, kept checked out: one transaction at a time
        (the committer serialises its leaders), no pool ping or reset per batch."""
        conn: Any = self.__dict__.get("_commit_conn")
        if conn is None:
            conn = self.db.engine.raw_connection()
            if not self.db.is_sqlite:
                # Transactions are explicit (BEGIN ... COMMIT in _write_batch), so that BEGIN
                # rides with the first statement instead of costing a round trip of its own.
                conn.driver_connection.autocommit = True
            self.__dict__["_commit_conn"] = conn
        return conn

    def _drop_committer_connection(self, conn: Any) -> None:
        self.__dict__.pop("_commit_conn", None)
        with contextlib.suppress(Exception):
            if not self.db.is_sqlite:
                conn.driver_connection.execute("ROLLBACK")  # explicit: autocommit mode
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.invalidate()  # a failed connection leaves the pool for good

    def close(self) -> None:
        """Give back the group committer's connection (the handle stays usable)."""
        conn = self.__dict__.pop("_commit_conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):
                if not self.db.is_sqlite:
                    conn.driver_connection.autocommit = False  # as the pool hands them out
                conn.close()

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        dbapi = self.db.engine.dialect.dbapi
        err = getattr(dbapi, "Error", None)
        return (err,) if isinstance(err, type) else ()

    @staticmethod
    def _validate(e: Event) -> _Prepared:
        """Check an event and canonicalise its parts once (raises InputError early)."""
        if not _KIND.match(e.kind):
            raise InputError(f"invalid ledger event kind {e.kind!r} (expected [a-z][a-z0-9_.-]*)")
        if not e.actor or len(e.actor) > 200:
            raise InputError("ledger event actor must be 1-200 characters")
        data = dict(e.data)
        actor_json, data_json = _actor_json(e.actor), canonical_json(data)
        # The largest envelope this event can have (a 19-digit position): refused before it
        # is queued, so a batch never fails for one event's size.
        size = len(data_json) + len(actor_json) + len(e.kind) + _ENVELOPE_BYTES
        if size > MAX_EVENT_BYTES:
            raise InputError(
                f"ledger event of kind {e.kind!r} is {size} bytes; the limit is "
                f"{MAX_EVENT_BYTES}: store large data as evidence blobs and ledger digests"
            )
        return e.kind, e.actor, actor_json, data, data_json

    # -- reading ---------------------------------------------------------------------------

    def size(self) -> int:
        with self.db.session() as s:
            head = s.get(LedgerHeadRow, 1)
            return head.size if head else 0

    def latest_checkpoint(self) -> str | None:
        with self.db.session() as s:
            row = s.scalars(
                select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.size.desc()).limit(1)
            ).first()
            return row.note if row else None

    @staticmethod
    def _entry(row: LedgerEntryRow) -> Entry:
        """An entry as its hashed content says: ``kind``, ``actor`` and time come from the
        canonical JSON the leaf hash covers, never from the unhashed index columns (an edited
        column changes nothing a reader sees; ``verify`` names it)."""
        import json

        body = json.loads(_as_bytes(row.data))
        if not isinstance(body, dict):
            body = {}
        kind, actor = body.get("kind"), body.get("actor")
        return Entry(
            row.seq,
            row.event_id,
            kind if isinstance(kind, str) else "",
            actor if isinstance(actor, str) else "",
            _parse_iso(body.get("time")) or _utc(row.recorded_at),
            body.get("data", {}),
            row.leaf_hash,
        )

    def get(self, event_id: str) -> Entry:
        with self.db.session() as s:
            row = s.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.event_id == event_id)
            ).first()
            if row is None and event_id.isdigit():
                row = s.get(LedgerEntryRow, int(event_id))
            if row is None:
                raise NotFoundError(f"ledger event {event_id} not found")
            return self._entry(row)

    def entries(
        self,
        *,
        start: int = 0,
        limit: int = 100,
        kind: str | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        limit = max(1, min(limit, 10_000))
        with self.db.session() as s:
            q = select(LedgerEntryRow)
            if kind:
                # The kind column is an unhashed index: match the hashed envelope too, so an
                # event whose column was edited away from its kind is still found.
                mark = b'","kind":"' + kind.encode("utf-8", "replace") + b'","seq":'
                content = (
                    func.instr(LedgerEntryRow.data, mark) > 0
                    if self.db.is_sqlite
                    else LedgerEntryRow.data.op("LIKE")(b"%" + mark + b"%")
                )
                q = q.where(or_(LedgerEntryRow.kind == kind, content))
            if newest_first:
                q = q.order_by(LedgerEntryRow.seq.desc()).offset(start)
            else:
                q = q.where(LedgerEntryRow.seq >= start).order_by(LedgerEntryRow.seq)
            out = [self._entry(r) for r in s.scalars(q.limit(limit))]
        # The kind column is an index only: an event whose hashed kind differs is not one.
        return [e for e in out if e.kind == kind] if kind else out

    def _leaf_hashes(self, size: int) -> list[bytes]:
        with self.db.session() as s:
            hashes = list(
                s.scalars(
                    select(LedgerEntryRow.leaf_hash)
                    .where(LedgerEntryRow.seq < size)
                    .order_by(LedgerEntryRow.seq)
                )
            )
        if len(hashes) != size:
            raise LedgerError(
                f"ledger has {len(hashes)} entries below size {size}: run 'bastion ledger verify'"
            )
        return hashes

    def _checkpoint_row(self, size: int | None) -> LedgerCheckpointRow:
        with self.db.session() as s:
            q = select(LedgerCheckpointRow)
            q = (
                q.where(LedgerCheckpointRow.size == size)
                if size is not None
                else q.order_by(LedgerCheckpointRow.size.desc()).limit(1)
            )
            row = s.scalars(q).first()
        if row is None:
            raise NotFoundError(
                "no signed checkpoint" + (f" of size {size}" if size else "") + " exists"
            )
        return row

    def _subtree_roots(self, s: Session, wanted: Sequence[tuple[int, int]]) -> list[bytes]:
        """Roots of perfect subtrees ``(height, idx)``: stored ones are read, the others
        folded from at most ``2**NODE_STRIDE`` hashes of the stored level below them.

        Two queries in all (leaf hashes, stored nodes), whatever the number of subtrees.
        """
        stride = NODE_STRIDE
        plan: list[tuple[int, int, int]] = []  # (level, first index, count) per subtree
        for height, idx in wanted:
            base = (height // stride) * stride
            if base == height and height > 0:
                plan.append((height, idx, 1))
            else:
                plan.append((base, idx << (height - base), 1 << (height - base)))
        leaves: dict[int, bytes] = {}
        nodes: dict[tuple[int, int], bytes] = {}
        leaf_ranges = [(lo, lo + n) for lvl, lo, n in plan if lvl == 0]
        node_ranges = [(lvl, lo, lo + n) for lvl, lo, n in plan if lvl > 0]
        if leaf_ranges:
            q = select(LedgerEntryRow.seq, LedgerEntryRow.leaf_hash).where(
                or_(*(LedgerEntryRow.seq.between(a, b - 1) for a, b in leaf_ranges))
            )
            leaves = {int(k): bytes(v) for k, v in s.execute(q)}
        if node_ranges:
            q2 = select(LedgerNodeRow.height, LedgerNodeRow.idx, LedgerNodeRow.hash).where(
                or_(
                    *(
                        (LedgerNodeRow.height == lvl) & LedgerNodeRow.idx.between(a, b - 1)
                        for lvl, a, b in node_ranges
                    )
                )
            )
            nodes = {(int(h), int(i)): bytes(v) for h, i, v in s.execute(q2)}
        out: list[bytes] = []
        for lvl, lo, n in plan:
            if lvl == 0:
                got = [leaves.get(k) for k in range(lo, lo + n)]
            else:
                got = [nodes.get((lvl, k)) for k in range(lo, lo + n)]
            if any(g is None for g in got):
                raise LookupError(f"the node index lacks level {lvl} at {lo}..{lo + n - 1}")
            out.append(perfect_root(cast(list[bytes], got)))
        return out

    def _range_roots(self, ranges: Sequence[tuple[int, int]]) -> list[bytes] | None:
        """MTH of each proof range from the node index; None when the index is incomplete."""
        try:
            parts = [perfect_subtrees(a, b) for a, b in ranges]
            with self.db.session() as s:
                roots = iter(self._subtree_roots(s, [p for ps in parts for p in ps]))
            return [fold_subtrees([next(roots) for _ in ps]) for ps in parts]
        except LookupError:
            return None

    def verified_entry(self, seq: int) -> Entry | None:
        """The entry at ``seq`` only if it is intact: its content hashes to its leaf, names
        its own position and id, and the leaf is in the tree of the latest signed
        checkpoint (an O(log n) inclusion proof from the node index). None otherwise.

        Cheap enough for a gate to call for each piece of evidence it relies on."""
        import json

        with self.db.session() as s:
            row = s.get(LedgerEntryRow, seq)
            if row is None:
                return None
            data, lh = _as_bytes(row.data), _as_bytes(row.leaf_hash)
            if leaf_hash(data) != lh:
                return None
            try:
                body = json.loads(data)
            except ValueError:
                return None
            if not isinstance(body, dict) or body.get("seq") != seq:
                return None
            if body.get("id") != row.event_id:
                return None
            entry = self._entry(row)
        try:
            cp_row = self._checkpoint_row(None)
            cp = verify_checkpoint(cp_row.note, self.origin, self.public_key)
        except (NotFoundError, NoteError):
            return None
        if seq >= cp.size:
            return None
        path = self._range_roots(inclusion_ranges(seq, cp.size))
        try:
            if path is None:
                raise ProofError("node index incomplete")
            verify_inclusion(lh, seq, cp.size, path, cp.root_hash)
        except ProofError:
            try:  # a damaged index: rebuild from every leaf hash, as inclusion_proof does
                full = inclusion_proof(self._leaf_hashes(cp.size), seq, cp.size)
                verify_inclusion(lh, seq, cp.size, full, cp.root_hash)
            except (ProofError, LedgerError):
                return None
        return entry

    def inclusion_proof(self, event_id: str, tree_size: int | None = None) -> InclusionProof:
        """Prove an event is in the tree of the latest (or a given) signed checkpoint.

        Reads O(log n) stored subtree roots; should the index be damaged (the proof then
        fails against the signed root), falls back to rebuilding from every leaf hash.
        """
        entry = self.get(event_id)
        cp_row = self._checkpoint_row(tree_size)
        cp = verify_checkpoint(cp_row.note, self.origin, self.public_key)
        if entry.seq >= cp.size:
            raise NotFoundError(
                f"event {event_id} is not covered by the checkpoint of size {cp.size}"
            )

        def build(path: Sequence[bytes]) -> InclusionProof:
            return InclusionProof(
                entry.event_id,
                entry.seq,
                entry.leaf_hash,
                cp.size,
                cp.root_hash,
                tuple(path),
                cp_row.note,
            )

        fast = self._range_roots(inclusion_ranges(entry.seq, cp.size))
        if fast is not None:
            proof = build(fast)
            try:
                proof.verify()
                return proof
            except ProofError:
                pass  # a damaged index: the full rebuild below decides
        proof = build(inclusion_proof(self._leaf_hashes(cp.size), entry.seq, cp.size))
        proof.verify()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        new_row = self._checkpoint_row(new_size)
        old_row = self._checkpoint_row(old_size)
        new_cp = verify_checkpoint(new_row.note, self.origin, self.public_key)
        old_cp = verify_checkpoint(old_row.note, self.origin, self.public_key)
        proof = self._range_roots(consistency_ranges(old_size, new_cp.size))
        try:
            if proof is None:
                raise ProofError("node index incomplete")
            verify_consistency(old_size, new_cp.size, old_cp.root_hash, new_cp.root_hash, proof)
        except ProofError:
            proof = consistency_proof(self._leaf_hashes(new_cp.size), old_size, new_cp.size)
        return {
            "old_size": old_size,
            "new_size": new_cp.size,
            "old_checkpoint": old_row.note,
            "new_checkpoint": new_row.note,
            "consistency_path": [h.hex() for h in proof],
        }

    # -- verification ----------------------------------------------------------------------

    def _batches(self, batch: int = 20_000) -> Iterator[Sequence[Any]]:
        """Stored rows ``(seq, event_id, data, leaf_hash, kind, actor, recorded_at)`` in
        position order, a batch at a time, straight from the driver (verify's loop
        normalises types only when needed)."""
        raw = self.db.engine.raw_connection()
        try:
            cur = row_cursor(raw, self.db.is_sqlite)
            cur.execute(*select_rows(self.db.is_sqlite, None, None))
            while rows := cur.fetchmany(batch):
                yield rows
            cur.close()
        finally:
            with contextlib.suppress(Exception):
                raw.rollback()  # ends the server-side cursor's transaction
            raw.close()

    def _stream(self, batch: int = 20_000) -> Iterator[tuple[int, str, bytes, bytes]]:
        for rows in self._batches(batch):
            for seq, eid, data, lh, *_columns in rows:
                yield int(seq), str(eid), _as_bytes(data), _as_bytes(lh)

    def verify(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        deep: bool = False,
        witness: str | None = None,
        visit: Callable[[int, dict[str, Any]], None] | None = None,
        since: int | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Recompute the tree from storage and check every signed checkpoint against it.

        Names each edited, missing, inserted, reordered or uncovered event and each forged or
        inconsistent checkpoint, and each event whose ``kind``, ``actor`` or ``recorded_at``
        column disagrees with its hashed content. ``witness`` is a checkpoint saved
        elsewhere earlier: the log must still contain it (catches truncation of the tail,
        which storage alone cannot). ``deep`` also re-parses every event and checks its
        canonical form; ``visit(seq, event)`` then sees each parsed event (the evidence
        store cross-checks its table with it).

        A large ledger is scanned by ``workers`` processes (default: one per core from
        :data:`PARALLEL_MIN_EVENTS` events on; 1 scans in this process), each over an
        aligned range of rows. ``since`` checks only what was appended after the signed
        checkpoint of that size (see :meth:`verify_since`).
        """
        if since is not None:
            if deep or witness is not None or visit is not None:
                raise InputError("an incremental verify (since) takes no witness and no deep check")
            return self.verify_since(since, progress)
        started = time.perf_counter()
        rep = VerifyReport()
        with self.db.session() as s:
            cps = list(
                s.execute(
                    select(
                        LedgerCheckpointRow.size,
                        LedgerCheckpointRow.root_hash,
                        LedgerCheckpointRow.note,
                    ).order_by(LedgerCheckpointRow.size)
                )
            )
            head_row = s.get(LedgerHeadRow, 1)
            head = (head_row.size, bytes(head_row.root_hash)) if head_row else None
            total = s.scalar(select(func.count()).select_from(LedgerEntryRow)) or 0
        cp_roots = self._checked_checkpoints(cps, rep)
        n = workers if workers is not None else _default_workers(total)
        segments: list[Segment] | None = None
        if n > 1 and not deep and visit is None and total > 1:
            segments = self._scan_parallel(n, total, frozenset(cp_roots), progress)
        if segments is None:
            rows = (row for rows in self._batches() for row in rows)
            tick = None if progress is None else (lambda done: progress(done, total))
            segments = [
                scan_rows(rows, expected=0, cp_sizes=cp_roots, deep=deep, visit=visit, tick=tick)
            ]
        rep.workers = len(segments)
        expected = assemble(segments, cp_roots, rep)
        if progress is not None:
            progress(sum(seg.rows for seg in segments), total)
        self._finish(rep, cp_roots, head, expected)
        if witness is not None:
            self._check_witness(witness, cp_roots, rep)
        rep.seconds = time.perf_counter() - started
        return rep

    def _checked_checkpoints(
        self, cps: Sequence[Any], rep: VerifyReport
    ) -> dict[int, tuple[bytes, str]]:
        """The stored checkpoints whose signature verifies and whose row matches its note."""
        cp_roots: dict[int, tuple[bytes, str]] = {}
        for size, root, note in cps:
            try:
                cp = verify_checkpoint(note, self.origin, self.public_key)
            except NoteError as exc:
                rep.problems.append(
                    LedgerProblem("checkpoint", f"checkpoint of size {size}: {exc.message}")
                )
                continue
            if cp.size != size or cp.root_hash != _as_bytes(root):
                rep.problems.append(
                    LedgerProblem(
                        "checkpoint",
                        f"checkpoint row of size {size} does not match its signed note",
                    )
                )
                continue
            cp_roots[cp.size] = (cp.root_hash, note)
        rep.checkpoints = len(cp_roots)
        return cp_roots

    def _finish(
        self,
        rep: VerifyReport,
        cp_roots: dict[int, tuple[bytes, str]],
        head: tuple[int, bytes] | None,
        expected: int,
    ) -> None:
        rep.size = expected
        if cp_roots:
            last = max(cp_roots)
            rep.latest_checkpoint = cp_roots[last][1]
            if last > expected:
                rep.problems.append(
                    LedgerProblem(
                        "missing",
                        f"the signed checkpoint of size {last} covers events that are no "
                        f"longer stored (only {expected} remain): events were deleted",
                        seq=expected,
                    )
                )
            if expected > last:
                rep.problems.append(
                    LedgerProblem(
                        "uncovered",
                        f"events {last}..{expected - 1} are not covered by any signed "
                        "checkpoint: they were inserted outside Bastion",
                        seq=last,
                    )
                )
        elif expected:
            rep.problems.append(
                LedgerProblem("uncovered", f"{expected} events but no signed checkpoint")
            )
        if head is not None and (head[0] != expected or head[1] != rep.root_hash):
            rep.problems.append(
                LedgerProblem(
                    "head",
                    f"the ledger head records size {head[0]}, storage holds {expected} events "
                    "with a different root",
                )
            )

    def _scan_parallel(
        self,
        workers: int,
        total: int,
        cp_sizes: frozenset[int],
        progress: Callable[[int, int], None] | None,
    ) -> list[Segment] | None:
        """Scan aligned ranges of ``2**k`` rows in worker processes (plain subprocesses:
        safe from a threaded server). None when the ledger changed under the scan (the caller then
        scans in process); LedgerError when a worker fails."""
        chunk = 1 << max(0, (-(-total // workers) - 1).bit_length())
        starts = list(range(chunk, total, chunk))
        with self.db.session() as s:
            bounds: list[int] = []
            for ordinal in starts:
                seq = s.scalar(
                    select(LedgerEntryRow.seq).order_by(LedgerEntryRow.seq).offset(ordinal).limit(1)
                )
                if seq is None:
                    return None
                bounds.append(int(seq))
        ranges: list[tuple[int | None, int | None, int]] = []
        edges: list[int | None] = [None, *bounds, None]
        for i in range(len(edges) - 1):
            lo, hi = edges[i], edges[i + 1]
            ranges.append((lo, hi, 0 if lo is None else lo))
        segments = run_workers(self.db.url, ranges, cp_sizes, total, progress)
        if any(seg.rows != chunk for seg in segments[:-1]):
            return None  # rows were added or removed under the scan: rescan in process
        return segments

    def verify_since(
        self, size: int, progress: Callable[[int, int], None] | None = None
    ) -> VerifyReport:
        """Verify only what was appended after the signed checkpoint of ``size``.

        The checkpoint must be stored and its signature verify. The tree's right edge at
        ``size`` is read from the node index (O(log n) rows) and must fold to that
        checkpoint's signed root; then the events from ``size`` on are scanned as a full
        verify scans them, every later checkpoint is checked, and the consistency proof
        from ``size`` to the latest checkpoint is built and verified. Everything after
        ``size`` is read in one database snapshot. Events before ``size`` are not re-read:
        they are what an earlier verify checked (a monitor runs a full verify now and then).
        """
        started = time.perf_counter()
        if size < 0:
            raise InputError("the trusted checkpoint size must not be negative")
        rep = VerifyReport(since=size)
        sqlite = self.db.is_sqlite
        ph = "?" if sqlite else "%s"
        raw = self.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            # One snapshot for the checkpoints, the head and the rows read below.
            cur.execute("BEGIN" if sqlite else "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(
                "SELECT size, root_hash, note FROM ledger_checkpoints "
                f"WHERE size >= {ph} ORDER BY size",
                (size,),
            )
            cps = cur.fetchall()
            cur.execute("SELECT size, root_hash FROM ledger_head WHERE id = 1")
            got = cur.fetchone()
            head = (int(got[0]), _as_bytes(got[1])) if got else None
            cp_roots = self._checked_checkpoints(cps, rep)
            if size not in cp_roots:
                if any(int(c[0]) == size for c in cps):
                    rep.seconds = time.perf_counter() - started
                    return rep  # its row is named as a checkpoint problem
                raise NotFoundError(f"no signed checkpoint of size {size} is stored")
            trusted = cp_roots[size][0]
            prefix = self._frontier_at(size, trusted, rep)
            if prefix is None:
                rep.seconds = time.perf_counter() - started
                return rep
            total = (head[0] if head else size) - size
            cur.close()
            cur = row_cursor(raw, sqlite)  # the same transaction, so the same snapshot
            cur.execute(*select_rows(sqlite, size, None))
            tick = None if progress is None else (lambda done: progress(done, max(total, done)))
            seg = scan_rows(
                fetch(cur),
                expected=size,
                cp_sizes=cp_roots,
                start_size=size,
                frontier=prefix,
                tick=tick,
            )
            cur.close()
        finally:
            with contextlib.suppress(Exception):
                raw.rollback()
            raw.close()
        expected = assemble([seg], cp_roots, rep)
        if progress is not None:
            progress(seg.rows, max(total, seg.rows))
        self._finish(rep, cp_roots, head, expected)
        last = max(cp_roots)
        if last > size:
            self._check_consistency(size, last, trusted, cp_roots[last][0], rep)
        rep.seconds = time.perf_counter() - started
        return rep

    def _frontier_at(self, size: int, root: bytes, rep: VerifyReport) -> list[bytes] | None:
        """The tree's right edge at ``size`` from the node index, checked against ``root``
        (a signed checkpoint's). None, with the problem named, when it does not fold to it."""
        wanted = perfect_subtrees(0, size)
        try:
            with self.db.session() as s:
                nodes = self._subtree_roots(s, wanted)
        except LookupError as exc:
            rep.problems.append(
                LedgerProblem(
                    "index",
                    f"the node index cannot give the tree at the trusted size {size} ({exc}): "
                    "it is damaged; run a full 'bastion ledger verify'",
                    seq=size,
                )
            )
            return None
        if fold_subtrees(nodes) != root:
            rep.problems.append(
                LedgerProblem(
                    "index",
                    f"the node index (or a leaf hash below position {size}) does not fold to "
                    f"the signed root of the trusted checkpoint of size {size}: the index is "
                    "damaged or old events were altered; run a full 'bastion ledger verify'",
                    seq=size,
                )
            )
            return None
        return nodes

    def _check_consistency(
        self, old: int, new: int, old_root: bytes, new_root: bytes, rep: VerifyReport
    ) -> None:
        """The RFC 9162 consistency proof from ``old`` to ``new``, built from the index."""
        proof = self._range_roots(consistency_ranges(old, new))
        try:
            if proof is None:
                raise ProofError("the node index lacks a subtree the proof needs")
            verify_consistency(old, new, old_root, new_root, proof)
        except ProofError as exc:
            rep.problems.append(
                LedgerProblem(
                    "index",
                    f"the consistency proof from size {old} to {new} does not verify "
                    f"({exc.message}): the node index is damaged",
                    seq=old,
                )
            )

    def _check_witness(
        self, witness: str, cp_roots: dict[int, tuple[bytes, str]], rep: VerifyReport
    ) -> None:
        try:
            cp = verify_checkpoint(witness, self.origin, self.public_key)
        except NoteError as exc:
            rep.problems.append(LedgerProblem("checkpoint", f"witness checkpoint: {exc.message}"))
            return
        if cp.size > rep.size:
            rep.problems.append(
                LedgerProblem(
                    "missing",
                    f"the witness checkpoint has size {cp.size} but only {rep.size} events "
                    "remain: the log was truncated",
                    seq=rep.size,
                )
            )
        elif cp.size not in cp_roots or cp_roots[cp.size][0] != cp.root_hash:
            # Recompute the root at the witness size from storage.
            root = Frontier()
            for _seq, _eid, data, _lh in self._stream():
                if root.size == cp.size:
                    break
                root.append(leaf_hash(data))
            if root.root() != cp.root_hash:
                rep.problems.append(
                    LedgerProblem(
                        "edited",
                        f"the log is not an extension of the witness checkpoint of size {cp.size}",
                    )
                )


_LOCK_HEAD = "UPDATE ledger_head SET size = size WHERE id = 1 RETURNING size, frontier"

#: The PostgreSQL batch write (see ``Ledger._write_batch``): every row of the batch in one
#: statement, so the head's row lock is held for two round trips and the commit.
_PG_BATCH = (
    "WITH e AS (INSERT INTO ledger_entries (seq, event_id, kind, actor, data, leaf_hash, "
    "recorded_at) SELECT t.s, t.i, t.k, t.a, t.d, t.h, %(ts)s FROM unnest(%(seq)s::bigint[], "
    "%(ids)s::varchar[], %(kinds)s::varchar[], %(actors)s::varchar[], %(data)s::bytea[], "
    "%(hashes)s::bytea[]) AS t(s, i, k, a, d, h)), "
    "n AS (INSERT INTO ledger_nodes (height, idx, hash) SELECT * FROM "
    "unnest(%(nh)s::integer[], %(ni)s::bigint[], %(nv)s::bytea[])), "
    "cp AS (INSERT INTO ledger_checkpoints (size, root_hash, note, created_at) "
    "VALUES (%(size)s, %(root)s, %(note)s, %(ts)s)) "
    "UPDATE ledger_head SET size = %(size)s, root_hash = %(root)s, frontier = %(frontier)s "
    "WHERE id = 1"
)


def _pg_batch_params(
    rows: Sequence[tuple[Any, ...]],
    nodes: Sequence[tuple[int, int, bytes]],
    frontier: Frontier,
    root: bytes,
    note: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "seq": [r[0] for r in rows],
        "ids": [r[1] for r in rows],
        "kinds": [r[2] for r in rows],
        "actors": [r[3] for r in rows],
        "data": [r[4] for r in rows],
        "hashes": [r[5] for r in rows],
        "nh": [h for h, _i, _v in nodes],
        "ni": [i for _h, i, _v in nodes],
        "nv": [v for _h, _i, v in nodes],
        "size": frontier.size,
        "root": root,
        "note": note,
        "frontier": frontier.to_bytes(),
        "ts": now,
    }
