"""The ``privacy.pii_scan`` check; importing registers it."""

from __future__ import annotations

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
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.privacy.pii._tables import DEFAULT_SAMPLE, MAX_SAMPLE, FileScan, file_digest, scan_file

__all__ = ["PiiColumnData", "PiiScanCheck", "PiiScanData"]

#: Entities whose presence fails the scan: credentials never belong in a dataset.
SECRET_ENTITIES = frozenset({"API_KEY", "PRIVATE_KEY"})
_HIGH = frozenset({
    "CREDIT_CARD", "US_SSN", "US_ITIN", "IBAN_CODE", "US_PASSPORT", "US_BANK_NUMBER", "UK_NHS",
    "UK_NINO", "ES_NIF", "IN_AADHAAR", "SG_NRIC_FIN", "AU_TFN", "DATE_OF_BIRTH",
})  # fmt: skip


class PiiColumnData(BaseModel):
    """One column's classification as evidence holds it (never its values)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    column: str
    entity: str | None
    pii: bool
    score: float
    match_rate: float
    sampled: int
    basis: str
    embedded: bool = False


class PiiScanData(EvidenceData):
    """``privacy.pii_scan`` evidence data: what was scanned and what it holds."""

    name: str
    format: str
    size: int
    entity_counts: dict[str, int]
    pii_columns: tuple[str, ...] = ()
    columns: tuple[PiiColumnData, ...] = ()
    rows_sampled: int = 0
    entities_found: int = 0


def _severity(entity: str) -> Severity:
    if entity in SECRET_ENTITIES:
        return Severity.CRITICAL
    return Severity.HIGH if entity in _HIGH else Severity.MEDIUM


def scan_result(scan: FileScan) -> CheckResult:
    """The check result of a finished scan (shared by the check and in-process callers)."""
    findings: list[Finding] = []
    if scan.table is not None:
        for c in scan.table.pii_columns:
            assert c.entity is not None
            findings.append(
                Finding(
                    rule_id=f"PII-{c.entity}",
                    title=f"column holds {c.entity}",
                    severity=_severity(c.entity),
                    message=(
                        f"column {c.column!r} classified as {c.entity} ({c.basis}, "
                        f"{c.match_rate:.0%} of {c.sampled} sampled values"
                        + (", embedded in text)" if c.embedded else ")")
                    ),
                    location=f"{scan.name}#{c.column}",
                    remediation="mask or tokenize it in non-production copies (bastion data mask)",
                )
            )
    else:
        for entity, n in sorted(scan.entity_counts.items()):
            findings.append(
                Finding(
                    rule_id=f"PII-{entity}",
                    title=f"text holds {entity}",
                    severity=_severity(entity),
                    message=f"{n} {entity} entit{'y' if n == 1 else 'ies'} in {scan.name}",
                    location=scan.name,
                )
            )
    found = set(scan.entity_counts)
    verdict = Verdict.FAIL if found & SECRET_ENTITIES else Verdict.WARN if found else Verdict.PASS
    d = scan.to_dict()
    table = d.get("table") or {}
    data = PiiScanData(
        name=scan.name,
        format=scan.format,
        size=scan.size,
        entity_counts=scan.entity_counts,
        pii_columns=tuple(table.get("pii_columns", ())),
        columns=tuple(PiiColumnData.model_validate(c) for c in table.get("columns", ())),
        rows_sampled=int(table.get("rows_sampled", 0)),
        entities_found=len(scan.entities),
    )
    return CheckResult(
        verdict,
        tuple(findings),
        data=data.model_dump(mode="json"),
        examined_digest=scan.digest,
    )


class PiiScanCheck(TypedCheck[PiiScanData]):
    """Scan a dataset file for PII: params ``path`` (default: the subject ref), ``sample``.

    Tables (CSV, TSV, Parquet) get per-column classifications from a sample of rows; text
    files get every entity with offsets. The evidence is about the sha256 of the file.
    Verdict: pass (nothing found), warn (PII found and classified), fail (credentials)."""

    id = "privacy.pii_scan"
    title = "PII scan of a dataset (column classification, entities)"
    description = (
        "Validated recognizers (Luhn, IBAN mod 97, SSN rules, national-ID checksums), context "
        "words and column names; evidence names entity types and columns, never values."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    references = ("GDPR Art. 30", "NIST SP 800-122", "ISO/IEC 27701")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "path": ParamSpec(ParamKind.PATH, "dataset file under a check root", subject_ref=True),
        "sample": ParamSpec(
            ParamKind.INT, "rows to sample per table", minimum=1, maximum=MAX_SAMPLE
        ),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        path = Path(str(ctx.params.get("path") or subject.ref))
        sample = int(ctx.params.get("sample") or DEFAULT_SAMPLE)
        name = ctx.params.get("name")
        if not path.is_file():
            raise InputError(f"{path.name}: no such dataset file")
        scan = scan_file(path, sample=sample, name=str(name) if name else None)
        if scan.format != "text" and file_digest(path)[0] != scan.digest:
            raise CheckError(f"{scan.name}: the file changed while it was scanned")
        return scan_result(scan)
