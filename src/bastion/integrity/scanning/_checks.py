"""Checks of the integrity room's scanning part; importing registers them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    TypedCheck,
)
from bastion.core.errors import CheckError, InputError
from bastion.core.types import Severity, Subject, Verdict
from bastion.integrity.interface import ScanReport, ScanVerdict
from bastion.integrity.scanning._policy import load_allowlist
from bastion.integrity.scanning._scan import scan_path, to_sarif

__all__ = ["ScanCheck", "ScanData", "ScanSummary"]

_VERDICT = {
    ScanVerdict.SAFE: Verdict.PASS,
    ScanVerdict.SUSPICIOUS: Verdict.WARN,
    ScanVerdict.DANGEROUS: Verdict.FAIL,
    ScanVerdict.ERROR: Verdict.ERROR,
}


def _manifest_digest(path: Path) -> str | None:
    """None when the files cannot be hashed as a model (a symlink, say): the scan still
    runs and reports why, but its evidence then names no digest."""
    from bastion.core.errors import BastionError
    from bastion.integrity.signing import signed_manifest

    try:
        return "sha256:" + signed_manifest(path).digest
    except (BastionError, OSError):
        return None


class ScanSummary(BaseModel):
    """The scan report as evidence holds it (every file's report is kept as recorded)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    target: str
    verdict: ScanVerdict
    counts: dict[str, int]
    files: tuple[dict[str, object], ...] = ()


class ScanData(EvidenceData):
    """``integrity.scan`` evidence data."""

    scan: ScanSummary


class ScanCheck(TypedCheck[ScanData]):
    """Scan a model file or directory; params: ``path`` (default: the subject ref), ``allow``.

    The evidence is about the model-signing manifest digest of the scanned files (the
    digest a registry version and its signature name), taken before and after the scan.
    An API caller may set ``path`` (confined to the check roots), never an allowlist."""

    id = "integrity.scan"
    title = "Model-file scan (pickle, archives, ONNX, Keras, safetensors, numpy)"
    description = (
        "Detects formats by content and reports imports and structures that run code on load; "
        "never loads or runs what it scans."
    )
    subject_kinds = ("model",)
    severity = Severity.CRITICAL
    references = ("CWE-502", "AML.T0010.003")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "path": ParamSpec(
            ParamKind.PATH, "model file or directory under a check root", subject_ref=True
        ),
    }

    def __init__(self, report: ScanReport | None = None) -> None:
        self._report = report

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        report = self._report
        examined: str | None = None
        if report is None:
            path = Path(str(ctx.params.get("path") or subject.ref))
            allow_file = ctx.params.get("allow")
            allow = load_allowlist(Path(str(allow_file))) if allow_file else frozenset()
            if not path.exists():
                raise InputError(f"{path}: no such model file or directory")
            examined = _manifest_digest(path)
            report = scan_path(path, allow=allow)
            if _manifest_digest(path) != examined:
                raise CheckError(f"{path}: the files changed while they were scanned")
        sarif = json.dumps(to_sarif(report), sort_keys=True).encode()
        return CheckResult(
            verdict=_VERDICT[report.verdict],
            findings=report.core_findings(),
            data={"scan": report.to_dict()},
            attachments={"scan.sarif.json": sarif},
            examined_digest=examined,
        )
