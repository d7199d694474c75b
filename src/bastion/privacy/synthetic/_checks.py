"""The ``privacy.synthetic`` gate: fidelity above a threshold and no copied or too-close
records. Importing this module registers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    TypedCheck,
    run_check,
)
from bastion.core.errors import InputError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.synthetic._copula import fit_copula
from bastion.privacy.synthetic._reports import (
    FidelityReport,
    PrivacyReport,
    fidelity_report,
    privacy_report,
)
from bastion.privacy.synthetic._table import Table, read_csv

__all__ = [
    "Synthesis",
    "SyntheticCheck",
    "SyntheticData",
    "Thresholds",
    "evaluate_synthetic",
    "synthesize",
]


@dataclass(frozen=True)
class Thresholds:
    """What the gate demands. Defaults: quality 0.8 (SDMetrics' scale), at most 1% exact
    copies, at most 10% of rows nearer than a fresh real sample's 5th percentile, at most
    60% nearer to training than to holdout, membership-inference AUC at most 0.6."""

    min_quality: float = 0.8
    max_exact_copy_rate: float = 0.01
    max_too_close_rate: float = 0.10
    max_closer_to_train: float = 0.60
    max_mia_auc: float = 0.60

    def __post_init__(self) -> None:
        for k, v in self.to_dict().items():
            if not (0.0 <= v <= 1.0):
                raise InputError(f"{k} must lie in [0, 1]")

    def to_dict(self) -> dict[str, float]:
        return {
            "min_quality": self.min_quality,
            "max_exact_copy_rate": self.max_exact_copy_rate,
            "max_too_close_rate": self.max_too_close_rate,
            "max_closer_to_train": self.max_closer_to_train,
            "max_mia_auc": self.max_mia_auc,
        }


class SyntheticData(EvidenceData):
    quality: float
    column_shapes: float
    column_pair_trends: float
    exact_copy_rate: float
    too_close_rate: float | None
    closer_to_train_share: float | None
    mia_auc: float | None
    holdout: bool
    thresholds: dict[str, float]
    real_digest: str
    synthetic_digest: str
    holdout_digest: str | None
    generation: dict[str, Any] | None = None


def _findings(f: FidelityReport, p: PrivacyReport, t: Thresholds, holdout: bool) -> list[Finding]:
    out: list[Finding] = []

    def add(rule: str, title: str, msg: str, sev: Severity = Severity.HIGH) -> None:
        out.append(Finding(f"privacy.synthetic.{rule}", title, sev, msg))

    if f.score < t.min_quality:
        add("fidelity", "Fidelity below threshold", f"quality {f.score:.3f} < {t.min_quality:g}")
    if p.exact_copy_rate > t.max_exact_copy_rate:
        add(
            "copies",
            "Synthetic rows copy real rows",
            f"{p.exact_copy_rate:.1%} of synthetic rows equal a real training row "
            f"(at most {t.max_exact_copy_rate:.1%})",
        )
    if p.too_close_rate is not None and p.too_close_rate > t.max_too_close_rate:
        add(
            "too_close",
            "Synthetic rows are too close to real rows",
            f"{p.too_close_rate:.1%} of synthetic rows are nearer to a training row than the "
            f"5th percentile of real holdout rows (at most {t.max_too_close_rate:.0%})",
        )
    if p.closer_to_train_share is not None and p.closer_to_train_share > t.max_closer_to_train:
        add(
            "closer_to_train",
            "Synthetic rows sit nearer to training than to holdout rows",
            f"{p.closer_to_train_share:.1%} nearer to training (at most "
            f"{t.max_closer_to_train:.0%}; 50% is what an unseen sample gives)",
        )
    if p.mia_auc is not None and p.mia_auc > t.max_mia_auc:
        add(
            "membership",
            "Membership inference succeeds",
            f"distance attack AUC {p.mia_auc:.3f} (at most {t.max_mia_auc:g}; 0.5 is chance)",
        )
    if not holdout:
        add(
            "no_holdout",
            "No holdout: membership inference not tested",
            "give a holdout of real rows the generator never saw",
            Severity.MEDIUM,
        )
    return out


def evaluate_synthetic(
    real: Table,
    synthetic: Table,
    holdout: Table | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[Verdict, list[Finding], FidelityReport, PrivacyReport]:
    """The gate's verdict: FAIL on low fidelity, copies, closeness or membership leakage;
    WARN when it passes without a holdout (membership untested); PASS otherwise."""
    t = thresholds or Thresholds()
    f = fidelity_report(real, synthetic)
    p = privacy_report(real, synthetic, holdout)
    findings = _findings(f, p, t, holdout is not None)
    if any(x.severity is Severity.HIGH for x in findings):
        verdict = Verdict.FAIL
    elif findings:
        verdict = Verdict.WARN
    else:
        verdict = Verdict.PASS
    return verdict, findings, f, p


_P = ParamSpec


class SyntheticCheck(TypedCheck[SyntheticData]):
    id = "privacy.synthetic"
    title = "Synthetic data is faithful and does not copy or sit too close to real records"
    description = (
        "Fidelity (SDMetrics quality report: column shapes, column pair trends) at least the "
        "threshold, and a privacy report (exact-copy rate, distance to closest record against "
        "a holdout, distance-based membership inference) within its limits. A verbatim copy "
        "of the real data fails."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    remote_params: ClassVar[dict[str, ParamSpec]] = {
        "real": _P(ParamKind.PATH, "real (training) CSV the generator was fitted on"),
        "synthetic": _P(
            ParamKind.PATH, "synthetic CSV (default: the subject's ref)", subject_ref=True
        ),
        "holdout": _P(ParamKind.PATH, "real CSV rows the generator never saw"),
        "categorical": _P(ParamKind.STRS, "columns to read as categorical", max_items=500),
        "min_quality": _P(ParamKind.FLOAT, "fidelity threshold", minimum=0.0, maximum=1.0),
        "max_exact_copy_rate": _P(
            ParamKind.FLOAT, "largest share of copied rows", minimum=0.0, maximum=1.0
        ),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        p = ctx.params
        cats = list(p.get("categorical") or [])
        digests: dict[str, str | None] = {"holdout": None}
        tables: dict[str, Table | None] = {"holdout": None}
        for name in ("real", "synthetic", "holdout"):
            given = p.get(f"{name}_table")
            if given is not None and not ctx.remote:
                tables[name] = given
                digests[name] = given.digest()
            elif p.get(name):
                tables[name], digests[name] = read_csv(p[name], categorical=cats)
            elif name != "holdout":
                raise InputError(f"params.{name}: the {name} CSV is required")
        real, synth = tables["real"], tables["synthetic"]
        assert real is not None
        assert synth is not None
        t = Thresholds(
            min_quality=float(p.get("min_quality", 0.8)),
            max_exact_copy_rate=float(p.get("max_exact_copy_rate", 0.01)),
        )
        verdict, findings, fid, priv = evaluate_synthetic(real, synth, tables["holdout"], t)
        data = SyntheticData(
            quality=fid.score,
            column_shapes=fid.column_shapes,
            column_pair_trends=fid.column_pair_trends,
            exact_copy_rate=priv.exact_copy_rate,
            too_close_rate=priv.too_close_rate,
            closer_to_train_share=priv.closer_to_train_share,
            mia_auc=priv.mia_auc,
            holdout=tables["holdout"] is not None,
            thresholds=t.to_dict(),
            real_digest=str(digests["real"]),
            synthetic_digest=str(digests["synthetic"]),
            holdout_digest=digests["holdout"],
            generation=None if ctx.remote else p.get("generation"),
        ).model_dump()
        data |= {"fidelity": fid.to_dict(), "privacy": priv.to_dict()}
        return CheckResult(
            verdict, tuple(findings), data=data, examined_digest=str(digests["synthetic"])
        )


@dataclass(frozen=True)
class Synthesis:
    table: Table
    evidence: Evidence
    fidelity: dict[str, Any]
    privacy: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.table.n_rows,
            "verdict": self.evidence.verdict.value,
            "evidence_id": self.evidence.id,
            "synthetic_digest": self.evidence.subject.digest,
            "quality": self.evidence.data.get("quality"),
            "fidelity": self.fidelity,
            "privacy": self.privacy,
            "findings": [f.to_dict() for f in self.evidence.findings],
        }


def synthesize(
    ws: Workspace,
    real: Table,
    *,
    rows: int | None = None,
    holdout_fraction: float = 0.2,
    seed: int | None = None,
    thresholds: Thresholds | None = None,
    source: str = "dataset",
    actor: str = "cli",
) -> Synthesis:
    """Split ``real`` into training and holdout rows, fit the copula on the training rows,
    sample, and run the ``privacy.synthetic`` gate (its evidence holds the digests of the
    real table, the holdout and the synthetic output, and the generation settings)."""
    if not (0.0 <= holdout_fraction < 0.9):
        raise InputError("holdout fraction must lie in [0, 0.9)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(real.n_rows)
    k = int(real.n_rows * holdout_fraction)
    holdout = real.take(np.sort(perm[:k])) if k >= 2 else None
    train = real.take(np.sort(perm[k:])) if holdout is not None else real
    model = fit_copula(train, rng=rng)
    synth = model.sample(rows or train.n_rows, rng=rng)
    t = thresholds or Thresholds()
    ev = run_check(
        ws,
        SyntheticCheck,
        Subject("dataset", f"synthetic:{source}"[:200]),
        actor=actor,
        params={
            "real_table": train,
            "synthetic_table": synth,
            "holdout_table": holdout,
            "min_quality": t.min_quality,
            "max_exact_copy_rate": t.max_exact_copy_rate,
            "generation": {
                "generator": "bastion.gaussian_copula",
                "rows": synth.n_rows,
                "train_rows": train.n_rows,
                "holdout_rows": holdout.n_rows if holdout is not None else 0,
                "seed": seed,
                "source_digest": real.digest(),
            },
        },
    )
    from bastion.privacy.lineage import synthetic_lineage

    synthetic_lineage(
        ws, source=source[:200], source_digest=real.digest(), synthetic_digest=synth.digest(),
        fields=[(c.name, c.kind.value) for c in synth.columns], evidence_id=ev.id, actor=actor,
    )  # fmt: skip
    return Synthesis(synth, ev, dict(ev.data.get("fidelity", {})), dict(ev.data.get("privacy", {})))
