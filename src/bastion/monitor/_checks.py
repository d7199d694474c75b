"""The ``monitor.drift`` check; importing registers it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    TypedCheck,
    record_evidence,
)
from bastion.core.errors import InputError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.monitor.drift import DriftReport, ReferenceProfile, Role
from bastion.monitor.tables import Table, read_table

if TYPE_CHECKING:
    from bastion.core.types import Evidence
    from bastion.core.workspace import Workspace

__all__ = [
    "DriftCheck",
    "DriftData",
    "FeatureDriftData",
    "TableRef",
    "drift_result",
    "record_drift",
    "run_drift",
]


class TableRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    digest: str
    rows: int
    format: str
    skipped: int = 0


class FeatureDriftData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    name: str
    role: str
    kind: str
    test: str
    statistic: float
    p_value: float
    p_adjusted: float
    psi: float
    js: float
    drifted: bool
    n_current: int
    missing_current: int


class DriftData(EvidenceData):
    """``monitor.drift`` evidence: both tables (by digest), the thresholds, every feature's
    statistics and which drifted."""

    reference: TableRef
    current: TableRef
    alpha: float
    psi_threshold: float
    drifted: tuple[str, ...]
    prediction_drift: bool
    confidence_drift: bool
    features: tuple[FeatureDriftData, ...]


def _strs(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise InputError("expected a list of column names")


def run_drift(
    reference: Table,
    current: Table,
    *,
    columns: list[str] | None = None,
    categorical: list[str] | None = None,
    prediction: str | None = None,
    confidence: str | None = None,
    alpha: float = 0.05,
    psi_threshold: float = 0.1,
    bins: int = 10,
    sample_size: int = 5000,
) -> DriftReport:
    """Drift of ``current`` against ``reference`` over ``columns`` (default: all shared)."""
    names = columns or [c for c in reference.columns if c in current.columns]
    for c in names:
        if c not in reference.columns or c not in current.columns:
            raise InputError(f"column {c[:64]!r} is not in both tables")
    if not names:
        raise InputError("the tables share no columns")
    roles: dict[str, Role] = {}
    for col, role in ((prediction, "prediction"), (confidence, "confidence")):
        if col:
            if col not in names:
                raise InputError(f"{role} column {col[:64]!r} is not among the compared columns")
            roles[col] = role  # type: ignore[assignment]
    cats = set(categorical or ()) | set(reference.categorical)
    profile = ReferenceProfile.build(
        {c: reference.columns[c] for c in names},
        categorical=[c for c in names if c in cats],
        roles=roles,
        bins=bins,
        sample_size=sample_size,
        alpha=alpha,
        psi_threshold=psi_threshold,
    )
    return profile.compare({c: current.columns[c] for c in names})


def _findings(report: DriftReport, where: str) -> tuple[Verdict, tuple[Finding, ...]]:
    findings = []
    for f in report.features:
        if f.drifted:
            sev = Severity.HIGH if f.role != "feature" else Severity.MEDIUM
            findings.append(
                Finding(
                    rule_id=f"DRIFT-{f.role.upper()}",
                    title=f"{f.role} {f.name} drifted",
                    severity=sev,
                    message=(
                        f"{f.name}: PSI {f.psi:.3f}, JS {f.js:.3f}, {f.test} p={f.p_value:.2e} "
                        f"(BH-adjusted {f.p_adjusted:.2e}, alpha {report.alpha})"
                    ),
                    location=f"{where}#{f.name}",
                    remediation="investigate the data source; retrain or roll back if it persists",
                )
            )
    if report.prediction_drift or report.confidence_drift:
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.WARN if report.drifted else Verdict.PASS
    return verdict, tuple(findings)


def _data(report: DriftReport, reference: TableRef, current: TableRef) -> DriftData:
    d: dict[str, Any] = report.to_dict()
    return DriftData(
        reference=reference,
        current=current,
        alpha=report.alpha,
        psi_threshold=report.psi_threshold,
        drifted=report.drifted,
        prediction_drift=report.prediction_drift,
        confidence_drift=report.confidence_drift,
        features=tuple(FeatureDriftData.model_validate(f) for f in d["features"]),
    )


def _ref(t: Table) -> TableRef:
    return TableRef(name=t.name, digest=t.digest, rows=t.rows, format=t.format, skipped=t.skipped)


def drift_result(report: DriftReport, reference: Table, current: Table) -> CheckResult:
    verdict, findings = _findings(report, current.name)
    data = _data(report, _ref(reference), _ref(current))
    return CheckResult(
        verdict, findings, data=data.model_dump(mode="json"), examined_digest=current.digest
    )


def record_drift(
    ws: Workspace,
    report: DriftReport,
    profile: ReferenceProfile,
    *,
    stream: str,
    reference_name: str = "reference profile",
    actor: str = "system",
) -> Evidence:
    """Record a streaming window's report as ``monitor.drift`` evidence: the reference is
    the profile (by its digest), the current side the window (by the digest of its
    statistics), the subject ``dataset:stream:<stream>`` pinned to that digest."""
    if not stream or len(stream) > 200:
        raise InputError("stream: expected a name of 1-200 characters")
    body = json.dumps(
        [f.to_dict() for f in report.features], sort_keys=True, separators=(",", ":")
    ).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    name = f"{stream} window {report.window}"
    verdict, findings = _findings(report, name)
    data = _data(
        report,
        TableRef(name=reference_name, digest=profile.digest(), rows=report.n_reference,
                 format="profile"),
        TableRef(name=name, digest=digest, rows=report.n_current, format="stream"),
    )  # fmt: skip
    return record_evidence(
        ws, DriftCheck, Subject("dataset", f"stream:{stream}", digest),
        verdict=verdict, data=data, findings=findings, actor=actor,
    )  # fmt: skip


class DriftCheck(TypedCheck[DriftData]):
    """Data, prediction and confidence drift of a current dataset against a reference.

    Params: ``reference`` (path), ``path`` (the current table; default the subject ref),
    ``columns``, ``categorical``, ``prediction``, ``confidence``, ``alpha``,
    ``psi_threshold``, ``bins``, ``sample_size``. The evidence is about the sha256 of the
    current table and names the reference's. Verdict: pass (no drift), warn (features
    drifted), fail (prediction or confidence drifted)."""

    id = "monitor.drift"
    title = "Drift of a dataset against its reference (PSI, JS, KS, chi-square, BH)"
    description = (
        "PSI and Jensen-Shannon on cached reference bins, KS on a reservoir sample for numeric "
        "columns, chi-square for categories, Benjamini-Hochberg across columns."
    )
    subject_kinds = ("dataset",)
    severity = Severity.MEDIUM
    references = ("NIST AI 600-1 MS-2.5", "ISO/IEC 42001 A.6.2.6", "MITRE ATLAS AML.T0020")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "reference": ParamSpec(ParamKind.PATH, "reference table (CSV or Parquet)"),
        "path": ParamSpec(ParamKind.PATH, "current table (CSV or Parquet)", subject_ref=True),
        "columns": ParamSpec(ParamKind.STRS, "columns to compare", max_items=1000),
        "categorical": ParamSpec(ParamKind.STRS, "columns to treat as categories", max_items=1000),
        "prediction": ParamSpec(ParamKind.STR, "the prediction column", max_length=256),
        "confidence": ParamSpec(ParamKind.STR, "the confidence column", max_length=256),
        "alpha": ParamSpec(ParamKind.FLOAT, "false discovery rate", minimum=1e-6, maximum=0.5),
        "psi_threshold": ParamSpec(
            ParamKind.FLOAT, "PSI a drift must reach", minimum=0, maximum=10
        ),
        "bins": ParamSpec(ParamKind.INT, "reference bins", minimum=2, maximum=100),
        "sample_size": ParamSpec(ParamKind.INT, "KS sample size", minimum=100, maximum=100_000),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        p = ctx.params
        ref_path = p.get("reference")
        if not ref_path:
            raise InputError("params.reference: the reference table is required")
        reference = read_table(Path(str(ref_path)))
        current = read_table(Path(str(p.get("path") or subject.ref)))
        report = run_drift(
            reference,
            current,
            columns=_strs(p.get("columns")) or None,
            categorical=_strs(p.get("categorical")),
            prediction=str(p["prediction"]) if p.get("prediction") else None,
            confidence=str(p["confidence"]) if p.get("confidence") else None,
            alpha=float(p.get("alpha") or 0.05),
            psi_threshold=float(p["psi_threshold"]) if p.get("psi_threshold") is not None else 0.1,
            bins=int(p.get("bins") or 10),
            sample_size=int(p.get("sample_size") or 5000),
        )
        return drift_result(report, reference, current)
