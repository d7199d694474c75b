"""How each of the room's transformations names its inputs and outputs for
:func:`record_lineage` (one call from each: masking, DP release, DP training, synthetic
generation). Files are ``file:<absolute path>``, uploads ``bastion.upload:<label>``,
budgeted datasets ``bastion.dataset:<id>``, models ``bastion.model:<digest>``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from bastion.core.workspace import Workspace
from bastion.privacy.lineage._events import ColumnMap, DatasetRef, StoredEvent, record_lineage

__all__ = ["dp_release_lineage", "dp_training_lineage", "masking_lineage", "synthetic_lineage"]


def _file(
    path: Path, label: str | None, digest: str, fields: Sequence[tuple[str, str]]
) -> DatasetRef:
    if label is not None:
        return DatasetRef("bastion.upload", label, digest, tuple(fields))
    return DatasetRef("file", str(path.resolve()), digest, tuple(fields))


def masking_lineage(
    ws: Workspace,
    *,
    input: Path,
    output: Path,
    input_label: str | None,
    output_label: str | None,
    input_digest: str,
    output_digest: str,
    fields: Sequence[tuple[str, str]],
    operators: Mapping[str, str],
    evidence_id: str | None,
    actor: str,
) -> StoredEvent:
    """Input file -> masked copy; each output column from its input column, the masked
    ones as a masking transformation named by its operator."""
    src = _file(input, input_label, input_digest, fields)
    out_fields = [(n, "string" if n in operators else t) for n, t in fields]
    dst = _file(output, output_label, output_digest, out_fields)
    cols = [
        ColumnMap(
            n,
            ((src, n),),
            "TRANSFORMATION" if n in operators else "IDENTITY",
            masking=n in operators,
            description=operators.get(n),
        )
        for n, _t in fields
    ]
    return record_lineage(ws, "privacy.mask", [src], [dst], columns=cols,
                          evidence_id=evidence_id, actor=actor)  # fmt: skip


def dp_release_lineage(
    ws: Workspace,
    *,
    dataset: str,
    column: str | None,
    input_digest: str,
    output_digest: str,
    aggregate: str,
    evidence_id: str,
    actor: str,
    session: Session,
) -> StoredEvent:
    src = DatasetRef("bastion.dataset", dataset, input_digest,
                     ((column, "unknown"),) if column else ())  # fmt: skip
    dst = DatasetRef("bastion.dp_release", f"{dataset}/{aggregate}/{evidence_id}", output_digest)
    cols = [ColumnMap(aggregate, ((src, column),), "AGGREGATION", masking=True,
                      description="differentially private")] if column else []  # fmt: skip
    return record_lineage(ws, "privacy.dp_release", [src], [dst], columns=cols,
                          evidence_id=evidence_id, actor=actor, session=session)  # fmt: skip


def dp_training_lineage(
    ws: Workspace,
    *,
    dataset: str,
    input_digest: str,
    model_digest: str,
    features: Iterable[str],
    evidence_id: str,
    actor: str,
    session: Session,
) -> StoredEvent:
    src = DatasetRef("bastion.dataset", dataset, input_digest,
                     tuple((f, "float") for f in features))  # fmt: skip
    dst = DatasetRef("bastion.model", model_digest, model_digest)
    return record_lineage(ws, "privacy.dp_training", [src], [dst],
                          evidence_id=evidence_id, actor=actor, session=session)  # fmt: skip


def synthetic_lineage(
    ws: Workspace,
    *,
    source: str,
    source_digest: str,
    synthetic_digest: str,
    fields: Sequence[tuple[str, str]],
    evidence_id: str,
    actor: str,
) -> StoredEvent:
    src = DatasetRef("bastion.dataset", source, source_digest, tuple(fields))
    dst = DatasetRef("bastion.synthetic", f"{source}@{synthetic_digest[7:19]}",
                     synthetic_digest, tuple(fields))  # fmt: skip
    cols = [ColumnMap(n, tuple((src, m) for m, _ in fields), "TRANSFORMATION",
                      description="Gaussian copula over all columns") for n, _ in fields]  # fmt: skip
    return record_lineage(ws, "privacy.synthesize", [src], [dst], columns=cols,
                          evidence_id=evidence_id, actor=actor)  # fmt: skip
