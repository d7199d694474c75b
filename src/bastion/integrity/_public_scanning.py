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


def record_scan(
    ws: Workspace,
    report: ScanReport,
    *,
    subject: Subject | None = None,
    actor: str = "system",
) -> Evidence:
    """Store a finished scan as ``integrity.scan`` evidence and ledger it (CLI and API)."""
    from bastion.core.checks import run_check
    from bastion.integrity._checks_scanning import ScanCheck

    subj = subject or Subject("model", Path(report.target).name or report.target)
    return run_check(ws, ScanCheck(report), subj, actor=actor, params={"path": report.target})
