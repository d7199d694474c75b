"""Entry points the CLI and API call: scan a path, scan uploaded content, record evidence."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.core.checks import run_check
from bastion.core.errors import CheckError, InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Subject
from bastion.privacy.pii._checks import PiiScanCheck, PiiScanData
from bastion.privacy.pii._tables import DEFAULT_SAMPLE, FileScan, scan_file

if TYPE_CHECKING:
    from bastion.core.types import Evidence
    from bastion.core.workspace import Workspace

__all__ = [
    "MAX_UPLOAD_BYTES",
    "latest_scans",
    "record_scan",
    "safe_upload_name",
    "scan_content",
]

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SUFFIXES = (".csv", ".tsv", ".parquet", ".txt", ".log", ".json", ".jsonl")


def safe_upload_name(name: str | None) -> str:
    """A caller's file name, used only as a label and for its suffix (never as a path)."""
    if name is None or not name:
        return "upload.txt"
    if not _NAME.match(name) or ".." in name:
        raise InputError(
            "name: expected a plain file name (letters, digits, '.', '_', '-'; at most 100), "
            "not a path"
        )
    return name


def _staged(content: bytes, name: str, tmp: str) -> Path:
    if len(content) > MAX_UPLOAD_BYTES:
        raise InputError(f"content: larger than {MAX_UPLOAD_BYTES} bytes")
    suffix = Path(name).suffix.lower()
    path = Path(tmp) / ("upload" + (suffix if suffix in _SUFFIXES else ".txt"))
    path.write_bytes(content)
    return path


def scan_content(
    content: bytes, name: str | None = None, *, sample: int = DEFAULT_SAMPLE
) -> FileScan:
    """Scan uploaded bytes (a remote caller's content; it never names a server path)."""
    shown = safe_upload_name(name)
    with tempfile.TemporaryDirectory(prefix="bastion-pii-") as tmp:
        return scan_file(_staged(content, shown, tmp), sample=sample, name=shown)


def record_scan(
    ws: Workspace,
    *,
    path: Path | None = None,
    content: bytes | None = None,
    name: str | None = None,
    ref: str | None = None,
    sample: int = DEFAULT_SAMPLE,
    actor: str = "system",
) -> Evidence:
    """Run ``privacy.pii_scan`` on a local file or on uploaded content and record the
    evidence (subject: dataset ``ref``, digest: sha256 of the bytes examined)."""
    if (path is None) == (content is None):
        raise InputError("give either a path or content to scan")
    if path is not None:
        subject = Subject("dataset", ref or path.name)
        return run_check(
            ws, PiiScanCheck, subject, actor=actor, params={"path": str(path), "sample": sample}
        )
    assert content is not None
    shown = safe_upload_name(name)
    with tempfile.TemporaryDirectory(prefix="bastion-pii-") as tmp:
        staged = _staged(content, shown, tmp)
        subject = Subject("dataset", ref or shown)
        return run_check(
            ws,
            PiiScanCheck,
            subject,
            actor=actor,
            params={"path": str(staged), "sample": sample, "name": shown},
        )


def latest_scans(ws: Workspace, *, limit: int = 200) -> list[tuple[Evidence, PiiScanData]]:
    """The PII map: the newest ``privacy.pii_scan`` evidence of each dataset (by subject
    ref, newest first, at most ``limit`` datasets) with its typed data. Evidence whose data
    no longer reads as the check's model is left out rather than shown half."""
    seen: set[str] = set()
    out: list[tuple[Evidence, PiiScanData]] = []
    for ev in ws.evidence.list(EvidenceQuery(check_id=PiiScanCheck.id, limit=1000)):
        if ev.subject.ref in seen:
            continue
        seen.add(ev.subject.ref)
        try:
            out.append((ev, PiiScanCheck.read(ev)))
        except CheckError:
            continue
        if len(out) >= limit:
            break
    return out
