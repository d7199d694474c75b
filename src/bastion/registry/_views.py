"""The registry's versions joined with the integrity evidence about their content digests:
one row per model digest known from either side, for the console's model list (and any
caller that wants the same join)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.core.types import Evidence
from bastion.core.workspace import Workspace
from bastion.registry._store import VersionInfo, list_models

__all__ = ["ModelEvidenceRow", "models_with_evidence"]


@dataclass(frozen=True)
class ModelEvidenceRow:
    """A model digest: its registered version (None when only evidence knows it), the latest
    evidence of each integrity model check about it, and the newest of those."""

    name: str
    digest: str | None
    version: VersionInfo | None
    checks: dict[str, Evidence] = field(default_factory=dict)
    newest: Evidence | None = None


def models_with_evidence(ws: Workspace, *, limit: int = 200) -> list[ModelEvidenceRow]:
    """Every model digest known from integrity evidence or the registry, by name and
    digest. A registered version without evidence is listed with no checks."""
    from bastion.integrity import latest_model_evidence

    versions: dict[str, VersionInfo] = {}
    for m in list_models(ws):
        for v in m.versions:
            versions.setdefault(v.digest, v)
    rows: list[ModelEvidenceRow] = []
    seen: set[str] = set()
    for (ref, digest), checks in latest_model_evidence(ws, limit=limit).items():
        known = versions.get(digest) if digest else None
        if known is not None:
            seen.add(digest or "")
        newest = max(checks.values(), key=lambda e: e.created_at)
        rows.append(ModelEvidenceRow(ref, digest, known, checks, newest))
    for digest, v in versions.items():
        if digest not in seen:
            rows.append(ModelEvidenceRow(v.model, digest, v))
    rows.sort(key=lambda r: (r.name, r.digest or ""))
    return rows
