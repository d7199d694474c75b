"""Public names of the integrity room's scanning part: the model-file scanner."""

from __future__ import annotations

from pathlib import Path

from bastion.core.types import Evidence, Subject
from bastion.core.workspace import Workspace
from bastion.integrity.interface import (
    RULES,
    ArchiveLimits,
    FileReport,
    ScanFinding,
    ScanReport,
    ScanRule,
    ScanVerdict,
)
from bastion.integrity.scanning._policy import load_allowlist
from bastion.integrity.scanning._scan import scan_bytes, scan_path, to_sarif

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
    "record_scan_upload",
    "scan_bytes",
    "scan_path",
    "to_sarif",
    "upload_digest",
]


def _digest_of(target: str) -> str | None:
    from bastion.core.errors import BastionError
    from bastion.integrity.signing import signed_manifest

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
    from bastion.integrity.scanning._checks import ScanCheck

    subj = subject or Subject(
        "model", name or Path(report.target).name or report.target, _digest_of(report.target)
    )
    return run_check(ws, ScanCheck(report), subj, actor=actor, params={"path": report.target})


def upload_digest(data: bytes) -> str:
    """The model-signing digest of ``data`` as a one-file model (hex): what
    ``signed_manifest`` gives for that file, and a registry version of it stores."""
    import hashlib

    from bastion.integrity._hashing import root_digest

    return root_digest([hashlib.sha256(data).hexdigest()])


def record_scan_upload(
    ws: Workspace,
    data: bytes,
    name: str,
    *,
    attest: bool = False,
    actor: str = "system",
) -> dict[str, object]:
    """Scan uploaded bytes and record ``integrity.scan`` evidence whose subject digest is
    the upload's model-signing digest; with ``attest``, also sign the verdict with the
    workspace attestation key (see ``record_attest_scan_upload``). Returns the report's
    JSON with ``evidence``, ``digest`` (model-signing), ``sha256`` (the bytes) and, when
    attested, ``attestation``."""
    import hashlib

    report = scan_bytes(data, name)
    digest = "sha256:" + upload_digest(data)
    ev = record_scan(ws, report, subject=Subject("model", name, digest), actor=actor)
    out: dict[str, object] = report.to_dict() | {
        "evidence": ev.id,
        "digest": digest,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if attest:
        from bastion.integrity.signing import record_attest_scan_upload

        summary, bundle, aev = record_attest_scan_upload(ws, report, data, name, actor=actor)
        out["attestation"] = summary.to_dict() | {"evidence": aev.id, "bundle": bundle}
    return out
