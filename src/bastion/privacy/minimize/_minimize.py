"""The minimization report: load the model (scanned-safe) and the data, measure each
feature's importance, classify the data's columns for PII and say what can go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.checks import record_evidence
from bastion.core.errors import InputError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.minimize._checks import (
    FeatureVerdictData,
    MinimizationCheck,
    MinimizationData,
)
from bastion.privacy.minimize._importance import (
    Importance,
    Metric,
    Progress,
    drop_column_importance,
    label_index,
    permutation_importance,
)
from bastion.privacy.pii import scan_file
from bastion.privacy.synthetic import ColumnKind, read_csv

__all__ = ["MinimizationReport", "minimize"]

MAX_FEATURES = 200
MAX_EVAL_ROWS = 50_000


@dataclass(frozen=True)
class MinimizationReport:
    data: MinimizationData
    permutation: tuple[Importance, ...]
    drop_column: tuple[Importance, ...]
    notes: tuple[str, ...] = ()
    evidence: Evidence | None = field(default=None)

    @property
    def verdict(self) -> Verdict:
        return Verdict.WARN if (self.data.removable_pii or self.data.unused_pii) else Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.data.model_dump(mode="json")
        d["verdict"] = self.verdict.value
        d["notes"] = list(self.notes)
        if self.evidence is not None:
            d["evidence_id"] = self.evidence.id
            d["ledger_seq"] = self.evidence.ledger_seq
        return d


def _verdict(imp: Importance | None, tol: float) -> str:
    if imp is None:
        return "inconclusive"
    if imp.ci_low > tol:
        return "needed"
    if imp.ci_high <= tol:
        return "removable"
    return "inconclusive"


def _recommend(verdict: str, entity: str | None, imp: Importance | None) -> str:
    what = f"{entity} column" if entity else "feature"
    if verdict == "unused":
        return f"{what} not used by the model: remove it from the training data"
    assert imp is not None or verdict == "inconclusive"
    if verdict == "removable":
        assert imp is not None
        return (
            f"{what} can go: the model loses at most {max(imp.ci_high, 0.0):.4f} "
            f"({imp.method.replace('_', '-')} CI upper bound)"
        )
    if verdict == "needed":
        if entity:
            return (
                f"{what} is needed: document the purpose (GDPR Art. 5(1)(c)) or generalize / "
                "tokenize it (bastion data mask)"
            )
        return "keep"
    return f"{what}: effect within the tolerance's range; collect more rows or review"


def _findings(data: MinimizationData) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            rule_id=f"privacy.minimization.{f.verdict}",
            title=f"PII column {f.feature} is not needed",
            severity=Severity.MEDIUM,
            message=f.recommendation,
            location=f.feature,
            references=("GDPR Art. 5(1)(c)",),
            remediation="drop the column from the training data, retrain, re-run",
        )
        for f in data.features
        if f.pii_entity and f.verdict in ("removable", "unused")
    )


def minimize(
    ws: Workspace | None,
    model: Path,
    data: Path,
    target: str,
    *,
    features: Sequence[str] | None = None,
    metric: Metric | str = Metric.ACCURACY,
    tolerance: float = 0.01,
    repeats: int = 5,
    bootstrap: int = 1000,
    level: float = 0.95,
    drop_column: bool = True,
    holdout_fraction: float = 0.3,
    seed: int | None = 0,
    ref: str | None = None,
    actor: str = "cli",
    progress: Progress | None = None,
) -> MinimizationReport:
    """Measure what ``model`` needs of ``data`` (a CSV with a header) and, when ``ws`` is
    given, record it as ``privacy.minimization`` evidence about the model's digest.

    ``features``: the model's input columns in its order (default: every numerical column
    but ``target``). Columns of the data the model does not take are reported as unused;
    those classified as PII are what minimization removes first."""
    from bastion.robustness import load_target

    try:
        m = Metric(metric)
    except ValueError:
        raise InputError("metric: expected accuracy or log_loss") from None
    if not 0.0 <= tolerance <= 1.0:
        raise InputError("tolerance: expected a score delta in [0, 1]")
    table, data_digest = read_csv(data)
    if target not in table.names:
        raise InputError(f"{table.source}: no target column {target[:80]!r}")
    if features:
        unknown = [f for f in features if f not in table.names]
        if unknown:
            raise InputError(f"{table.source}: no column {unknown[0][:80]!r} (--features)")
        feats = list(dict.fromkeys(features))
    else:
        feats = [
            c.name for c in table.columns if c.name != target and c.kind is ColumnKind.NUMERICAL
        ]
    if not feats or len(feats) > MAX_FEATURES:
        raise InputError(f"features: expected 1-{MAX_FEATURES} model input columns")
    if target in feats:
        raise InputError("features: the target column cannot be a feature")
    cols = []
    for f in feats:
        c = table.column(f)
        if c.kind is not ColumnKind.NUMERICAL:
            raise InputError(f"{table.source}: feature {f[:80]!r} is not numerical")
        if np.isnan(c.values).any():
            raise InputError(f"{table.source}: feature {f[:80]!r} has missing values")
        cols.append(c.values)
    x = np.stack(cols, axis=1).astype(np.float32)
    tcol = table.column(target)
    y = np.asarray(tcol.values)
    if tcol.kind is ColumnKind.NUMERICAL and np.isnan(y).any():
        raise InputError(f"{table.source}: target {target[:80]!r} has missing values")
    rng = np.random.default_rng(seed)
    if len(x) > MAX_EVAL_ROWS:
        keep = np.sort(rng.choice(len(x), MAX_EVAL_ROWS, replace=False))
        x, y = x[keep], y[keep]
    loaded = load_target(model)
    tgt = loaded.target
    if tuple(getattr(tgt, "input_shape", (len(feats),))) != (len(feats),):
        raise InputError(
            f"the model takes {tgt.input_shape} inputs, the data gives {len(feats)} features "
            "(use --features to name them in the model's order)"
        )
    if m is Metric.LOG_LOSS and "probabilities" not in {c.value for c in tgt.capabilities}:
        raise InputError("metric log_loss: this model answers labels only; use accuracy")
    y_idx = label_index(tgt, y.astype(np.float64) if y.dtype != object else y, tgt.n_classes)
    n_steps = len(feats) * (2 if drop_column else 1)

    def tick(offset: int) -> Progress | None:
        if progress is None:
            return None
        return lambda done, _total: progress(offset + done, n_steps)

    baseline, perm = permutation_importance(
        tgt, x, y_idx, feats, metric=m, rng=rng, repeats=repeats, n_boot=bootstrap,
        level=level, progress=tick(0),
    )  # fmt: skip
    notes: list[str] = []
    drop: list[Importance] = []
    estimator = getattr(tgt, "estimator", None)
    if drop_column and estimator is not None and len(feats) >= 2:
        _, drop = drop_column_importance(
            estimator, x, y, feats, metric=m, rng=rng, holdout_fraction=holdout_fraction,
            n_boot=bootstrap, level=level, progress=tick(len(feats)),
        )  # fmt: skip
    elif drop_column:
        notes.append(
            f"drop-column importance needs a refittable scikit-learn estimator "
            f"(this is {loaded.format}); verdicts rest on permutation importance"
        )
    scan = scan_file(data)
    pii = {c.column: c.entity for c in (scan.table.pii_columns if scan.table else ())}
    by_perm = {i.feature: i for i in perm}
    by_drop = {i.feature: i for i in drop}
    rows: list[FeatureVerdictData] = []
    for f in feats:
        judge = by_drop.get(f) or by_perm.get(f)
        v = _verdict(judge, tolerance)
        rows.append(
            FeatureVerdictData(
                feature=f,
                verdict=v,
                pii_entity=pii.get(f),
                permutation=_ci(by_perm.get(f)),
                drop_column=_ci(by_drop.get(f)),
                recommendation=_recommend(v, pii.get(f), judge),
            )
        )
    rows.extend(
        FeatureVerdictData(
            feature=c,
            verdict="unused",
            pii_entity=pii[c],
            recommendation=_recommend("unused", pii[c], None),
        )
        for c in table.names
        if c not in feats and c != target and c in pii
    )
    md = MinimizationData(
        model_digest=loaded.digest,
        data_digest=data_digest,
        model_format=loaded.format,
        target=target,
        metric=m.value,
        baseline=baseline,
        rows=len(x),
        tolerance=tolerance,
        level=level,
        methods=("permutation", "drop_column") if drop else ("permutation",),
        features=tuple(rows),
        pii_columns=tuple(sorted(pii)),
        removable_pii=tuple(r.feature for r in rows if r.pii_entity and r.verdict == "removable"),
        unused_pii=tuple(r.feature for r in rows if r.verdict == "unused"),
        needed_pii=tuple(r.feature for r in rows if r.pii_entity and r.verdict == "needed"),
    )
    report = MinimizationReport(md, tuple(perm), tuple(drop), tuple(notes))
    if ws is None:
        return report
    ev = record_evidence(
        ws,
        MinimizationCheck,
        Subject("model", (ref or model.name)[:200], loaded.digest),
        verdict=report.verdict,
        data=md,
        findings=_findings(md),
        actor=actor,
    )
    return MinimizationReport(md, report.permutation, report.drop_column, report.notes, ev)


def _ci(imp: Importance | None) -> dict[str, float] | None:
    if imp is None:
        return None
    return {"delta": imp.delta, "ci_low": imp.ci_low, "ci_high": imp.ci_high}
