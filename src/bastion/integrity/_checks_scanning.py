"""Checks of the integrity room's scanning part; importing registers them."""

from __future__ import annotations

import json
from pathlib import Path

from bastion.core.checks import Check, CheckContext, CheckResult
from bastion.core.errors import InputError
from bastion.core.types import Severity, Subject, Verdict
from bastion.integrity._scan import ScanReport, scan_path, to_sarif
from bastion.integrity._scan_policy import ScanVerdict, load_allowlist

__all__ = ["ScanCheck"]

_VERDICT = {
    ScanVerdict.SAFE: Verdict.PASS,
    ScanVerdict.SUSPICIOUS: Verdict.WARN,
    ScanVerdict.DANGEROUS: Verdict.FAIL,
    ScanVerdict.ERROR: Verdict.ERROR,
}


class ScanCheck(Check):
    """Scan a model file or directory; params: ``path`` (default: the subject ref), ``allow``."""

    id = "integrity.scan"
    title = "Model-file scan (pickle, archives, ONNX, Keras, safetensors, numpy)"
    description = (
        "Detects formats by content and reports imports and structures that run code on load; "
        "never loads or runs what it scans."
    )
    subject_kinds = ("model",)
    severity = Severity.CRITICAL
    references = ("CWE-502", "AML.T0010.003")

    def __init__(self, report: ScanReport | None = None) -> None:
        self._report = report

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        report = self._report
        if report is None:
            path = Path(str(ctx.params.get("path") or subject.ref))
            allow_file = ctx.params.get("allow")
            allow = load_allowlist(Path(str(allow_file))) if allow_file else frozenset()
            if not path.exists():
                raise InputError(f"{path}: no such model file or directory")
            report = scan_path(path, allow=allow)
        sarif = json.dumps(to_sarif(report), sort_keys=True).encode()
        return CheckResult(
            verdict=_VERDICT[report.verdict],
            findings=report.core_findings(),
            data={"scan": report.to_dict()},
            attachments={"scan.sarif.json": sarif},
        )
