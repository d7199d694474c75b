"""Public names of the integrity room's scanning part: the model-file scanner."""

from __future__ import annotations

from pathlib import Path

from bastion.core.types import Evidence, Subject
from bastion.core.workspace import Workspace
from bastion.integrity._containers import ArchiveLimits
from bastion.integrity._scan import (
    RULES,
    FileReport,
    ScanFinding,
    ScanReport,
    ScanRule,
    scan_bytes,
    scan_path,
    to_sarif,
)
from bastion.integrity._scan_policy import ScanVerdict, load_allowlist

__all__ = [
    "RULES",
    "ArchiveLimits",
    "FileReport",
    "ScanFinding",
    "ScanReport",
    "ScanRule",
    "ScanVerdict",
    "load_allowlist",
    "record_scan",
    "scan_bytes",
    "scan_path",
    "to_sarif",
]


def _digest_of(target: str) -> str | None:
    from bastion.core.errors import BastionError
    from bastion.integrity._signing import signed_manifest

    path = Path(target)
    if not path.exists():
        return None
    try:
        return "sha256:" + signed_manifest(path).digest
    except (BastionError, OSError):
        return None


def record_scan(
    ws: Workspace,
    report: ScanReport,
    *,
    subject: Subject | None = None,
    name: str | None = None,
    actor: str = "system",
) -> Evidence:
    """Store a finished scan as ``integrity.scan`` evidence and ledger it (CLI and API).

    Without an explicit subject, the subject is the scanned path (or ``name``) with the
    model-signing root digest of its files, the digest signatures and registry versions use,
    so a gate can match scan evidence to the version it is about.
    """
    from bastion.core.checks import run_check
    from bastion.integrity._checks_scanning import ScanCheck

    subj = subject or Subject(
        "model", name or Path(report.target).name or report.target, _digest_of(report.target)
    )
    return run_check(ws, ScanCheck(report), subj, actor=actor, params={"path": report.target})
