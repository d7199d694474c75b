"""Chain of custody (issue 12, section 5): freeze an artifact for an investigation (copy it
into the blob store, hash it), and record its collection and every later access and
transfer as a signed custody statement, chained to the one before and ledgered.

A statement is RFC 8785 canonical JSON, signed with the workspace's ledger key (Ed25519;
its public key is the ledger's verifier key). A custody report carries everything an
auditor needs to check the chain without Bastion's database: the statements and their
signatures, the public key, each statement's ledger event with an RFC 9162 inclusion proof
against a signed checkpoint. :func:`verify_report` re-hashes the artifact, checks every
signature, the chain's links, each ledger event's leaf and its proof, and the checkpoint's
signature.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.core.canonical import canonical_json
from bastion.core.errors import BastionError, InputError, LedgerError, NotFoundError
from bastion.core.ledger import Event, encode_event, leaf_hash, verify_checkpoint, verify_inclusion
from bastion.core.workspace import Workspace
from bastion.incidents._rows import ArtifactRow, CustodyEventRow
from bastion.incidents._store import now, utc

__all__ = [
    "REPORT_FORMAT",
    "STATEMENT_TYPE",
    "Artifact",
    "CustodyCheck",
    "access_artifact",
    "collect",
    "custody_report",
    "get_artifact",
    "list_artifacts",
    "transfer",
    "verify_custody",
    "verify_report",
]

STATEMENT_TYPE = "https://bastion.dev/custody/statement/v1"
REPORT_FORMAT = "bastion-custody-report/v1"
MAX_ARTIFACT_BYTES = 4 << 30
ACTIONS = ("collected", "accessed", "transferred", "verified")


@dataclass(frozen=True)
class Artifact:
    id: str
    name: str
    digest: str
    size: int
    holder: str
    incident_id: str | None
    collected_by: str
    collected_at: datetime
    events: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "digest": self.digest,
            "size": self.size,
            "holder": self.holder,
            "incident": self.incident_id,
            "collected_by": self.collected_by,
            "collected_at": self.collected_at.isoformat(),
            "events": [dict(e) for e in self.events],
        }


@dataclass
class CustodyCheck:
    """What a verification found: ``ok`` only when there is no problem."""

    artifacts: int = 0
    statements: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.statements > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "artifacts": self.artifacts,
            "statements": self.statements,
            "problems": list(self.problems),
        }


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _name(value: str, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InputError(f"{what}: expected 1 to {limit} characters")
    return value.strip()


def _append(
    ws: Workspace,
    s: Session,
    art: ArtifactRow,
    action: str,
    actor: str,
    *,
    to: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    last = s.scalars(
        select(CustodyEventRow)
        .where(CustodyEventRow.artifact_id == art.id)
        .order_by(CustodyEventRow.seq.desc())
        .limit(1)
    ).first()
    seq = 0 if last is None else last.seq + 1
    statement: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "artifact": {"id": art.id, "name": art.name, "digest": art.digest, "size": art.size},
        "seq": seq,
        "action": action,
        "actor": actor,
        "holder": art.holder,
        "at": now().isoformat(),
        "incident": art.incident_id,
        "prev": None if last is None else last.statement_digest,
    }
    if to is not None:
        statement["to"] = to
    if note:
        statement["note"] = note
    raw = canonical_json(statement)
    sdigest = _digest(raw)
    signature = _b64(ws.keyring.ledger_private_key().sign(raw))
    (entry,) = ws.ledger.append(
        [
            Event(
                f"custody.{action}",
                {"artifact": art.id, "digest": art.digest, "seq": seq,
                 "statement_digest": sdigest, "incident": art.incident_id},
                actor,
            )
        ],
        session=s,
    )  # fmt: skip
    s.add(
        CustodyEventRow(
            artifact_id=art.id, seq=seq, statement=statement, statement_digest=sdigest,
            signature=signature, ledger_seq=entry.seq,
        )
    )  # fmt: skip
    return statement


def collect(
    ws: Workspace,
    source: Path | bytes,
    *,
    name: str | None = None,
    incident_id: str | None = None,
    actor: str,
    holder: str | None = None,
    note: str | None = None,
) -> Artifact:
    """Freeze ``source`` (a file, or bytes such as an evidence record): copy it into the
    blob store, hash it, and record the signed ``collected`` statement. The holder is the
    collector unless named."""
    if isinstance(source, Path):
        if not source.is_file():
            raise InputError(f"{source.name}: no such file to collect")
        size = source.stat().st_size
        if size > MAX_ARTIFACT_BYTES:
            raise InputError(f"{source.name}: larger than {MAX_ARTIFACT_BYTES} bytes")
        try:
            with source.open("rb") as f:
                digest = ws.blobs.put_stream(f)
        except OSError as exc:
            raise InputError(f"{source.name}: cannot read ({exc.strerror})") from None
        label = name or source.name
    else:
        if len(source) > MAX_ARTIFACT_BYTES:
            raise InputError(f"artifact larger than {MAX_ARTIFACT_BYTES} bytes")
        digest, size, label = ws.blobs.put(source), len(source), name or "artifact"
    label = _name(label, "artifact name", 300)
    who = _name(holder or actor, "holder")
    if incident_id is not None:
        from bastion.incidents._store import get_incident

        get_incident(ws, incident_id)
    aid = str(uuid.uuid4())
    with ws.db.session() as s:
        art = ArtifactRow(
            id=aid, incident_id=incident_id, name=label, digest=digest, size=size, holder=who,
            collected_by=actor, collected_at=now(),
        )  # fmt: skip
        s.add(art)
        s.flush()
        _append(ws, s, art, "collected", actor, note=note)
        if incident_id is not None:
            from bastion.incidents._store import _link, record

            if _link(s, incident_id, "artifact", aid, actor):
                record(ws, s, incident_id, "linked", {"link": "artifact", "ref": aid,
                                                     "digest": digest}, actor)  # fmt: skip
    return get_artifact(ws, aid)


def _artifact(s: Session, artifact_id: str) -> ArtifactRow:
    row = s.get(ArtifactRow, artifact_id)
    if row is None:
        raise NotFoundError(f"no custody artifact {artifact_id[:40]!r}")
    return row


def access_artifact(ws: Workspace, artifact_id: str, *, actor: str, purpose: str) -> bytes:
    """Read a frozen artifact (checked against its digest) and record the access."""
    purpose = _name(purpose, "purpose", 1000)
    with ws.db.session() as s:
        art = _artifact(s, artifact_id)
        data = ws.blobs.get(art.digest)
        _append(ws, s, art, "accessed", actor, note=purpose)
    return data


def transfer(ws: Workspace, artifact_id: str, *, to: str, actor: str, note: str) -> Artifact:
    """Hand the artifact to ``to`` (a person, a lab, a court): the holder changes and the
    signed ``transferred`` statement names both."""
    to = _name(to, "to")
    note = _name(note, "note", 1000)
    with ws.db.session() as s:
        art = _artifact(s, artifact_id)
        if to == art.holder:
            raise InputError(f"{to} already holds artifact {artifact_id}")
        _append(ws, s, art, "transferred", actor, to=to, note=note)
        art.holder = to
    return get_artifact(ws, artifact_id)


def _events(s: Session, artifact_id: str) -> list[CustodyEventRow]:
    return list(
        s.scalars(
            select(CustodyEventRow)
            .where(CustodyEventRow.artifact_id == artifact_id)
            .order_by(CustodyEventRow.seq)
        )
    )


def _info(s: Session, row: ArtifactRow) -> Artifact:
    return Artifact(
        row.id, row.name, row.digest, row.size, row.holder, row.incident_id, row.collected_by,
        utc(row.collected_at) or now(),
        tuple({"seq": e.seq, "action": e.statement["action"], "actor": e.statement["actor"],
               "at": e.statement["at"], "to": e.statement.get("to"),
               "ledger_seq": e.ledger_seq} for e in _events(s, row.id)),
    )  # fmt: skip


def get_artifact(ws: Workspace, artifact_id: str) -> Artifact:
    with ws.db.session() as s:
        return _info(s, _artifact(s, artifact_id))


def list_artifacts(ws: Workspace, *, incident_id: str | None = None) -> list[Artifact]:
    q = select(ArtifactRow).order_by(ArtifactRow.collected_at)
    if incident_id is not None:
        q = q.where(ArtifactRow.incident_id == incident_id)
    with ws.db.session() as s:
        return [_info(s, r) for r in s.scalars(q)]


def _public_key_b64(ws: Workspace) -> str:
    raw = ws.keyring.ledger_public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64(raw)


def custody_report(
    ws: Workspace, *, artifact_id: str | None = None, incident_id: str | None = None
) -> dict[str, Any]:
    """The custody report of one artifact or of every artifact of an incident: statements,
    signatures, ledger events with inclusion proofs, the public key and the ledger origin.
    Verifiable offline with :func:`verify_report` (``bastion custody verify``)."""
    if (artifact_id is None) == (incident_id is None):
        raise InputError("name an artifact or an incident (one of them)")
    with ws.db.session() as s:
        if artifact_id is not None:
            rows = [_artifact(s, artifact_id)]
        else:
            rows = list(
                s.scalars(
                    select(ArtifactRow)
                    .where(ArtifactRow.incident_id == incident_id)
                    .order_by(ArtifactRow.collected_at)
                )
            )
            if not rows:
                raise NotFoundError(f"incident {str(incident_id)[:40]} has no custody artifacts")
        chains = [(r, _events(s, r.id)) for r in rows]
    artifacts = []
    for r, events in chains:
        items = []
        for e in events:
            entry = ws.ledger.verified_entry(e.ledger_seq)
            if entry is None:
                raise LedgerError(f"custody event {r.id}#{e.seq}: its ledger entry is missing")
            proof = ws.ledger.inclusion_proof(entry.event_id)
            items.append(
                {
                    "statement": e.statement,
                    "statement_digest": e.statement_digest,
                    "signature": e.signature,
                    "ledger": {
                        "seq": entry.seq,
                        "id": entry.event_id,
                        "kind": entry.kind,
                        "actor": entry.actor,
                        "time": entry.recorded_at.isoformat(),
                        "data": entry.data,
                        "proof": proof.to_dict(),
                    },
                }
            )
        artifacts.append(
            {"artifact": {"id": r.id, "name": r.name, "digest": r.digest, "size": r.size,
                          "holder": r.holder, "incident": r.incident_id},
             "chain": items}
        )  # fmt: skip
    return {
        "format": REPORT_FORMAT,
        "generated_at": now().isoformat(),
        "signing_key": {"algorithm": "ed25519", "public_key": _public_key_b64(ws)},
        "ledger_origin": ws.settings.ledger_origin,
        "artifacts": artifacts,
    }


def _verify_chain(
    art: Mapping[str, Any],
    chain: Sequence[Mapping[str, Any]],
    key: Ed25519PublicKey,
    origin: str,
    check: CustodyCheck,
) -> None:
    aid = str(art.get("id"))
    prev: str | None = None
    holder: str | None = None
    for i, item in enumerate(chain):
        where = f"artifact {aid[:36]} statement {i}"
        st = item.get("statement")
        if not isinstance(st, dict):
            check.problems.append(f"{where}: no statement")
            continue
        check.statements += 1
        raw = canonical_json(st)
        if _digest(raw) != item.get("statement_digest"):
            check.problems.append(f"{where}: the statement does not hash to its digest")
        try:
            key.verify(base64.b64decode(str(item.get("signature", "")), validate=True), raw)
        except (InvalidSignature, ValueError):
            check.problems.append(f"{where}: the signature does not verify")
        if st.get("_type") != STATEMENT_TYPE or st.get("action") not in ACTIONS:
            check.problems.append(f"{where}: not a custody statement")
        if st.get("seq") != i:
            check.problems.append(f"{where}: out of sequence (seq {st.get('seq')})")
        if st.get("prev") != prev:
            check.problems.append(f"{where}: does not link to the statement before it")
        if i == 0 and st.get("action") != "collected":
            check.problems.append(f"{where}: the chain does not start with its collection")
        sa = st.get("artifact") or {}
        if sa.get("digest") != art.get("digest") or sa.get("id") != aid:
            check.problems.append(f"{where}: names another artifact or digest")
        if holder is not None and st.get("holder") != holder:
            check.problems.append(f"{where}: the holder changed without a transfer")
        holder = str(st.get("to")) if st.get("action") == "transferred" else st.get("holder")
        prev = str(item.get("statement_digest"))
        _verify_ledger(item.get("ledger"), st, prev, key, origin, where, check)
    if holder is not None and art.get("holder") is not None and art.get("holder") != holder:
        check.problems.append(f"artifact {aid[:36]}: its holder is not the chain's last holder")


def _verify_ledger(
    led: Any,
    st: Mapping[str, Any],
    sdigest: str,
    key: Ed25519PublicKey,
    origin: str,
    where: str,
    check: CustodyCheck,
) -> None:
    if not isinstance(led, dict) or not isinstance(led.get("proof"), dict):
        check.problems.append(f"{where}: no ledger event or proof")
        return
    data = led.get("data") or {}
    if data.get("statement_digest") != sdigest or led.get("kind") != f"custody.{st.get('action')}":
        check.problems.append(f"{where}: the ledger event is not this statement's")
    try:
        leaf = leaf_hash(
            encode_event(
                int(led["seq"]), str(led["id"]), str(led["kind"]), str(led["actor"]),
                datetime.fromisoformat(str(led["time"])), data,
            )
        )  # fmt: skip
        proof = led["proof"]
        if leaf.hex() != proof.get("leaf_hash"):
            check.problems.append(f"{where}: the ledger event does not hash to its leaf")
        cp = verify_checkpoint(str(proof["checkpoint"]), origin, key)
        root = bytes.fromhex(str(proof["root_hash"]))
        if cp.root_hash != root or cp.size != int(proof["tree_size"]):
            check.problems.append(f"{where}: the proof's root is not the signed checkpoint's")
        verify_inclusion(
            leaf, int(proof["leaf_index"]), int(proof["tree_size"]),
            [bytes.fromhex(h) for h in proof["inclusion_path"]], root,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        check.problems.append(f"{where}: malformed ledger proof ({type(exc).__name__})")
    except LedgerError as exc:  # ProofError, NoteError
        check.problems.append(f"{where}: {exc.message}")


def verify_report(
    report: Mapping[str, Any],
    *,
    artifacts: Mapping[str, bytes] | None = None,
    blob_lookup: Any = None,
) -> CustodyCheck:
    """Check a custody report on its own: signatures, the chain, the ledger proofs and
    the checkpoint signature, and, for each artifact whose bytes are given (``artifacts``
    by artifact id, or ``blob_lookup(digest) -> bytes``), that they hash to its digest."""
    check = CustodyCheck()
    if report.get("format") != REPORT_FORMAT:
        check.problems.append(f"not a custody report (format {str(report.get('format'))[:40]})")
        return check
    try:
        key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(report["signing_key"]["public_key"]), validate=True)
        )
    except (KeyError, TypeError, ValueError):
        check.problems.append("the report's signing key is missing or malformed")
        return check
    origin = str(report.get("ledger_origin", ""))
    entries = report.get("artifacts")
    if not isinstance(entries, list):
        entries = []
    for a in entries:
        art = a.get("artifact") if isinstance(a, dict) else None
        chain = a.get("chain") if isinstance(a, dict) else None
        if not isinstance(art, dict) or not isinstance(chain, list) or not chain:
            check.problems.append("an artifact entry without its chain")
            continue
        check.artifacts += 1
        try:
            _verify_chain(art, chain, key, origin, check)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # a malformed report
            check.problems.append(
                f"artifact {str(art.get('id'))[:36]}: malformed chain ({type(exc).__name__})"
            )
        data = (artifacts or {}).get(str(art.get("id")))
        if data is None and blob_lookup is not None:
            try:
                data = blob_lookup(str(art.get("digest")))
            except BastionError as exc:  # the blob store's: corrupted or missing
                check.problems.append(f"artifact {str(art.get('id'))[:36]}: {exc.message}")
                continue
        if data is None:
            check.problems.append(f"artifact {str(art.get('id'))[:36]}: its bytes were not given")
        elif _digest(data) != art.get("digest") or len(data) != art.get("size"):
            check.problems.append(
                f"artifact {str(art.get('id'))[:36]}: its bytes no longer match {art.get('digest')}"
            )
    if check.artifacts == 0:
        check.problems.append("the report holds no artifact")
    return check


def verify_custody(
    ws: Workspace,
    *,
    artifact_id: str | None = None,
    incident_id: str | None = None,
    actor: str = "system",
) -> CustodyCheck:
    """Verify the stored chain: build the report and check it against the blob store
    (which re-hashes every byte), then record the verification as a custody statement
    when it passes."""
    report = custody_report(ws, artifact_id=artifact_id, incident_id=incident_id)

    def lookup(digest: str) -> bytes:
        return ws.blobs.get(digest)

    check = verify_report(report, blob_lookup=lookup)
    if check.ok:
        with ws.db.session() as s:
            for a in report["artifacts"]:
                _append(ws, s, _artifact(s, a["artifact"]["id"]), "verified", actor)
    return check
