"""OpenLineage run events: built to the 2-0-2 spec, validated against its JSON Schema,
stored with their input -> output edges, and appended to the ledger.

:func:`record_lineage` is the one function the room's transformations (masking, DP
releases and training, synthetic generation) call; :func:`lineage_run` wraps any other
(a training job) in START and COMPLETE / FAIL events.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion import __version__
from bastion.core.canonical import canonical_json
from bastion.core.errors import InputError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.privacy.lineage._rows import LineageEdgeRow, LineageEventRow
from bastion.privacy.lineage._schema import (
    COLUMN_LINEAGE_URL,
    DATASET_VERSION_URL,
    RUN_EVENT_SCHEMA,
    RUN_EVENT_URL,
    SCHEMA_FACET_URL,
)

__all__ = [
    "JOB_NAMESPACE",
    "PRODUCER",
    "ColumnMap",
    "DatasetRef",
    "LineageRun",
    "StoredEvent",
    "build_event",
    "lineage_run",
    "list_events",
    "record_event",
    "record_lineage",
    "validate_event",
]

PRODUCER = f"https://github.com/bastion-ai/bastion/tree/v{__version__}"
JOB_NAMESPACE = "bastion"
_NS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+@-]{0,99}$")
_MAX_NAME = 1000
_MAX_FIELDS = 2000
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as OpenLineage names it: ``namespace`` (``file``, ``bastion.dataset``,
    ``bastion.model``...) and ``name``; optionally its version digest and its fields."""

    namespace: str
    name: str
    digest: str | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (name, type)

    def __post_init__(self) -> None:
        if not _NS.match(self.namespace):
            raise InputError(f"lineage: namespace {self.namespace[:100]!r} is not valid")
        if not self.name or len(self.name) > _MAX_NAME or any(ord(c) < 32 for c in self.name):
            raise InputError("lineage: a dataset name is 1-1000 printable characters")
        if len(self.fields) > _MAX_FIELDS:
            raise InputError(f"lineage: more than {_MAX_FIELDS} fields")

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """``namespace:name`` (the first colon splits them)."""
        ns, sep, name = text.partition(":")
        if not sep:
            raise InputError(f"lineage: expected NAMESPACE:NAME, got {text[:100]!r}")
        return cls(ns, name)


@dataclass(frozen=True)
class ColumnMap:
    """One output column and the input columns it comes from (columnLineage facet)."""

    output: str
    inputs: tuple[tuple[DatasetRef, str], ...]
    transformation: str = "IDENTITY"  # OpenLineage subtype: IDENTITY, TRANSFORMATION, ...
    masking: bool = False
    description: str | None = None


def _facet(url: str, **body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": url, **body}


def _dataset(d: DatasetRef, columns: Sequence[ColumnMap] = ()) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if d.fields:
        facets["schema"] = _facet(
            SCHEMA_FACET_URL, fields=[{"name": n, "type": t} for n, t in d.fields]
        )
    if d.digest:
        facets["version"] = _facet(DATASET_VERSION_URL, datasetVersion=d.digest)
    if columns:
        fields: dict[str, Any] = {}
        for c in columns:
            tr: dict[str, Any] = {"type": "DIRECT", "subtype": c.transformation,
                                  "masking": c.masking}  # fmt: skip
            if c.description:
                tr["description"] = c.description[:200]
            fields[c.output] = {
                "inputFields": [
                    {"namespace": i.namespace, "name": i.name, "field": f, "transformations": [tr]}
                    for i, f in c.inputs
                ]
            }
        facets["columnLineage"] = _facet(COLUMN_LINEAGE_URL, fields=fields)
    out: dict[str, Any] = {"namespace": d.namespace, "name": d.name}
    if facets:
        out["facets"] = facets
    return out


def build_event(
    job: str,
    *,
    event_type: str = "COMPLETE",
    inputs: Sequence[DatasetRef] = (),
    outputs: Sequence[DatasetRef] = (),
    columns: Sequence[ColumnMap] = (),
    run_id: str | None = None,
    run_facets: dict[str, Any] | None = None,
    job_namespace: str = JOB_NAMESPACE,
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """An OpenLineage RunEvent (validated). ``columns`` describe the outputs' columns."""
    if event_type not in EVENT_TYPES:
        raise InputError(f"lineage: eventType must be one of {', '.join(EVENT_TYPES)}")
    if not job or len(job) > 200:
        raise InputError("lineage: a job name is 1-200 characters")
    ts = (event_time or datetime.now(UTC)).astimezone(UTC)
    run: dict[str, Any] = {"runId": run_id or str(uuid.uuid4())}
    if run_facets:
        run["facets"] = {k: _facet(f"{PRODUCER}#/facets/{k}", **v) for k, v in run_facets.items()}
    ev = {
        "eventType": event_type,
        "eventTime": ts.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_URL,
        "run": run,
        "job": {
            "namespace": job_namespace,
            "name": job,
            "facets": {
                "jobType": _facet(
                    "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json"
                    "#/$defs/JobTypeJobFacet",
                    processingType="BATCH",
                    integration="BASTION",
                    jobType="TRANSFORMATION",
                )
            },
        },
        "inputs": [_dataset(d) for d in inputs],
        "outputs": [_dataset(d, columns) for d in outputs],
    }
    validate_event(ev)
    return ev


def validate_event(event: object) -> None:
    """Refuse a document that is not an OpenLineage RunEvent (``InputError`` naming the
    first problem's path)."""
    import jsonschema  # type: ignore[import-untyped]

    v = jsonschema.Draft202012Validator(
        RUN_EVENT_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    err = next(iter(sorted(v.iter_errors(event), key=lambda e: list(e.absolute_path))), None)
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise InputError(f"not an OpenLineage RunEvent: at {where}: {err.message[:200]}")


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    run_id: str
    event_type: str
    job: str
    event: dict[str, Any]
    digest: str
    evidence_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "run_id": self.run_id, "event_type": self.event_type,
                "job": self.job, "digest": self.digest, "evidence_id": self.evidence_id,
                "event": self.event}  # fmt: skip


def _key(d: dict[str, Any]) -> str:
    return f"{d['namespace']}:{d['name']}"


def _version(d: dict[str, Any]) -> str | None:
    v = d.get("facets", {}).get("version", {}).get("datasetVersion")
    return str(v) if v is not None else None


def _store(
    s: Session, ws: Workspace, ev: dict[str, Any], evidence_id: str | None, actor: str
) -> StoredEvent:
    digest = "sha256:" + hashlib.sha256(canonical_json(ev)).hexdigest()
    ts = datetime.fromisoformat(ev["eventTime"].replace("Z", "+00:00"))
    row = LineageEventRow(
        run_id=ev["run"]["runId"], event_type=ev.get("eventType", "OTHER"), event_time=ts,
        job_namespace=ev["job"]["namespace"][:200], job_name=ev["job"]["name"][:200], event=ev,
        digest=digest, evidence_id=evidence_id, actor=actor[:200],
    )  # fmt: skip
    s.add(row)
    if ev.get("eventType", "COMPLETE") in ("COMPLETE", "OTHER"):
        now = datetime.now(UTC)
        for i in ev.get("inputs", []):
            for o in ev.get("outputs", []):
                s.add(
                    LineageEdgeRow(
                        run_id=row.run_id, job_name=row.job_name, source=_key(i)[:1100],
                        target=_key(o)[:1100], source_digest=_version(i),
                        target_digest=_version(o), created_at=now,
                    )
                )  # fmt: skip
    s.flush()
    ws.ledger.append(
        [
            Event(
                "privacy.lineage.event",
                {
                    "run_id": row.run_id,
                    "event_type": row.event_type,
                    "job": row.job_name,
                    "digest": digest,
                    "inputs": [_key(i) for i in ev.get("inputs", [])][:50],
                    "outputs": [_key(o) for o in ev.get("outputs", [])][:50],
                    "evidence_id": evidence_id,
                },
                actor,
            )
        ],
        session=s,
    )
    return StoredEvent(row.id, row.run_id, row.event_type, row.job_name, ev, digest, evidence_id)


def record_event(
    ws: Workspace,
    event: dict[str, Any],
    *,
    evidence_id: str | None = None,
    actor: str = "system",
    session: Session | None = None,
) -> StoredEvent:
    """Store a validated RunEvent (any producer's: a caller may post its own) and its edges."""
    validate_event(event)
    if session is not None:
        return _store(session, ws, event, evidence_id, actor)
    with ws.db.session() as s:
        return _store(s, ws, event, evidence_id, actor)


def record_lineage(
    ws: Workspace,
    job: str,
    inputs: Sequence[DatasetRef],
    outputs: Sequence[DatasetRef],
    *,
    columns: Sequence[ColumnMap] = (),
    evidence_id: str | None = None,
    run_facets: dict[str, Any] | None = None,
    actor: str = "system",
    session: Session | None = None,
) -> StoredEvent:
    """The hook every transformation calls: one COMPLETE run event from ``inputs`` to
    ``outputs`` (stored, its edges indexed, a ``privacy.lineage.event`` in the ledger;
    inside ``session`` when given, so the lineage commits with the transformation)."""
    facets = dict(run_facets or {})
    if evidence_id:
        facets["bastion_evidence"] = {"evidenceId": evidence_id}
    ev = build_event(job, inputs=inputs, outputs=outputs, columns=columns, run_facets=facets)
    return record_event(ws, ev, evidence_id=evidence_id, actor=actor, session=session)


@dataclass
class LineageRun:
    """A run in progress: add outputs (a trained model) before the block ends."""

    job: str
    run_id: str
    inputs: list[DatasetRef]
    outputs: list[DatasetRef] = field(default_factory=list)
    facets: dict[str, Any] = field(default_factory=dict)

    def add_output(self, d: DatasetRef) -> None:
        self.outputs.append(d)


@contextmanager
def lineage_run(
    ws: Workspace, job: str, inputs: Sequence[DatasetRef], *, actor: str = "system"
) -> Iterator[LineageRun]:
    """START on entry; COMPLETE with the outputs added on a normal exit, FAIL (with the
    error's type, never its message) when the block raises."""
    run = LineageRun(job, str(uuid.uuid4()), list(inputs))
    record_event(ws, build_event(job, event_type="START", inputs=run.inputs, run_id=run.run_id),
                 actor=actor)  # fmt: skip
    try:
        yield run
    except BaseException as exc:
        record_event(
            ws,
            build_event(job, event_type="FAIL", inputs=run.inputs, run_id=run.run_id,
                        run_facets={"bastion_error": {"type": type(exc).__name__}}),
            actor=actor,
        )  # fmt: skip
        raise
    record_event(
        ws,
        build_event(job, event_type="COMPLETE", inputs=run.inputs, outputs=run.outputs,
                    run_id=run.run_id, run_facets=run.facets or None),
        actor=actor,
    )  # fmt: skip


def list_events(ws: Workspace, *, since: int = 0, limit: int = 10_000) -> list[StoredEvent]:
    with ws.db.session() as s:
        rows = s.scalars(
            select(LineageEventRow)
            .where(LineageEventRow.id > since)
            .order_by(LineageEventRow.id)
            .limit(limit)
        ).all()
        return [
            StoredEvent(r.id, r.run_id, r.event_type, r.job_name, r.event, r.digest, r.evidence_id)
            for r in rows
        ]
