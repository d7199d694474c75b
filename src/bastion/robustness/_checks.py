"""The ``robustness.evaluation`` check: accuracy under evasion attack, with its validity.

Importing this module registers it. The model is loaded only through the safe path of
:func:`bastion.robustness.load_target` (scanned ``safe`` first, from the bytes scanned),
and the evidence is bound to the model-signing digest ``integrity.scan`` names for the
same file. In-process callers may pass a ready ``target`` with ``x``/``y`` arrays instead
(and tabular ``constraints``); API callers may not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    RecordedCheck,
    TypedCheck,
)
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.robustness.interface import (
    ATTACKS,
    AttackSpec,
    CertifySpec,
    FeatureConstraints,
    Norm,
    RobustnessError,
    Target,
)

if TYPE_CHECKING:
    from bastion.robustness._evaluate import EvaluationReport

__all__ = [
    "CertificationSummary",
    "DefensesCheck",
    "DefensesData",
    "DetectorCheck",
    "DetectorData",
    "MembershipCheck",
    "MembershipData",
    "RobustnessCheck",
    "RobustnessData",
    "evaluation_from_params",
    "judge",
]

MAX_REMOTE_WORK = 20_000_000  # input-steps an API caller may ask for (samples*steps*eps)
MAX_REMOTE_CERTIFY = 20_000_000  # noisy predictions an API caller may ask for


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class CurveEntry(_Frozen):
    eps: float
    accuracy: float
    success_rate: float
    mean_perturbation: float
    max_perturbation: float


class ValidityEntry(_Frozen):
    name: str
    passed: bool
    detail: str


class Cost(_Frozen):
    cpu_seconds: float
    gradient_evaluations: int
    queries: int


class CertificationSummary(_Frozen):
    sigma: float
    n0: int
    n: int
    alpha: float
    certified_accuracy: dict[str, float]
    abstain_rate: float
    mean_certified_radius: float


class RobustnessData(EvidenceData):
    """``robustness.evaluation`` evidence data. ``robust_accuracy`` (at the largest eps)
    and ``robust_accuracy_at`` (``eps_0_1``: ...) are withheld (None, empty) when a
    validity check failed: a gate condition on them then fails closed."""

    attack: str
    norm: str
    samples: int
    eps: tuple[float, ...]
    clean_accuracy: float
    curve: tuple[CurveEntry, ...]
    valid: bool
    validity: tuple[ValidityEntry, ...]
    robust_accuracy: float | None
    robust_accuracy_at: dict[str, float]
    attack_success_rate: float
    mean_minimal_perturbation: float | None
    cost: Cost
    certification: CertificationSummary | None = None
    min_accuracy: float | None = None
    data_digest: str | None = None


def _eps(value: object) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise RobustnessError("eps: expected numbers, e.g. 0.05,0.1,0.2")
    try:
        out = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise RobustnessError("eps: expected numbers, e.g. 0.05,0.1,0.2") from None
    if not out:
        raise RobustnessError("eps: give at least one value")
    return out


def _spec(p: Mapping[str, Any]) -> tuple[AttackSpec, tuple[float, ...], CertifySpec | None]:
    attack = str(p.get("attack", "pgd"))
    if attack not in ATTACKS:
        raise RobustnessError(f"unknown attack {attack[:40]!r} (known: {', '.join(ATTACKS)})")
    try:
        norm = Norm(str(p.get("norm", "linf")))
    except ValueError:
        raise RobustnessError("norm: expected linf or l2") from None
    constraints = p.get("constraints")
    if constraints is not None and not isinstance(constraints, FeatureConstraints):
        raise RobustnessError("constraints: expected FeatureConstraints (in-process only)")
    spec = AttackSpec(
        name=attack,
        norm=norm,
        steps=int(p.get("steps", 40)),
        step_size=float(p["step_size"]) if p.get("step_size") is not None else None,
        random_start=bool(p.get("random_start", True)),
        seed=int(p.get("seed", 0)),
        clip_min=float(p.get("clip_min", 0.0)),
        clip_max=float(p.get("clip_max", 1.0)),
        constraints=constraints,
        queries=int(p.get("queries", 1000)),
        eot=int(p["eot"]) if p.get("eot") is not None else None,
    )
    cert = None
    if p.get("certify_sigma") is not None:
        cert = CertifySpec(
            sigma=float(p["certify_sigma"]),
            n0=int(p.get("certify_n0", 100)),
            n=int(p.get("certify_n", 1000)),
            alpha=float(p.get("certify_alpha", 0.001)),
        )
    return spec, _eps(p.get("eps", "0.1")), cert


def evaluation_from_params(
    params: Mapping[str, Any], subject_ref: str | None = None, *, remote: bool = False
) -> tuple[EvaluationReport, str | None, str | None]:
    """Run the evaluation the parameters describe: (report, model digest, data digest).

    ``target`` + ``x``/``y`` (in-process), or ``path`` (a model file, default the subject
    ref) + ``data`` (CSV or NPZ, label column ``label``) and, in-process only, ``allow``
    (a scan allowlist file). ``samples``: the first N rows."""
    # torch, onnxruntime and scikit-learn load here, not when the check registers.
    from bastion.robustness._data import load_dataset
    from bastion.robustness._evaluate import evaluate
    from bastion.robustness._targets import load_target

    spec, eps, cert = _spec(params)
    samples = params.get("samples")
    if samples is not None and (isinstance(samples, bool) or int(samples) < 1):
        raise RobustnessError("samples must be a positive integer")
    if remote:
        n = int(samples or 0) or 1000
        per = {"pgd": spec.steps, "square": spec.queries, "hopskipjump": spec.queries}.get(
            spec.name, 1
        )
        if n * per * len(eps) > MAX_REMOTE_WORK:
            raise RobustnessError(
                f"samples x steps (or queries) x eps exceeds the {MAX_REMOTE_WORK:,} an API "
                "caller may ask for"
            )
        if cert is not None and n * (cert.n0 + cert.n) > MAX_REMOTE_CERTIFY:
            raise RobustnessError(
                f"samples x (n0 + n) exceeds the {MAX_REMOTE_CERTIFY:,} an API caller may ask for"
            )
    model_digest: str | None = None
    data_digest: str | None = None
    target: Any = params.get("target")
    endpoint: Any = None
    if params.get("endpoint"):
        if remote:
            raise RobustnessError("endpoint: HTTP endpoint targets are for the CLI and campaigns")
        from bastion.robustness._endpoint import open_endpoint

        if not params.get("template"):
            raise RobustnessError("endpoint: give the request template (template)")
        data = params.get("data")
        if not data:
            raise RobustnessError("give the data file (data)")
        ds = load_dataset(Path(str(data)), label=str(params.get("label", "label")))
        tpl = params["template"]
        endpoint = open_endpoint(
            str(params["endpoint"]),
            tpl if not isinstance(tpl, (str, Path)) else Path(str(tpl)),
            allow_hosts=tuple(str(h) for h in params.get("allow_hosts") or ()),
            query_budget=int(params.get("query_budget") or 1_000_000),
            concurrency=int(params.get("concurrency") or 4),
        )
        target, data_digest, x, y = endpoint, ds.digest, ds.x, ds.y
    elif target is not None:
        if remote or not isinstance(target, Target):
            raise RobustnessError("target: a ready target is for in-process callers only")
        x, y = np.asarray(params["x"]), np.asarray(params["y"])
    else:
        path = params.get("path") or subject_ref
        data = params.get("data")
        if not path or not data:
            raise RobustnessError("give the model file (path) and the data file (data)")
        ds = load_dataset(Path(str(data)), label=str(params.get("label", "label")))
        allow: frozenset[str] = frozenset()
        if params.get("allow") and not remote:
            from bastion.integrity import load_allowlist

            allow = load_allowlist(Path(str(params["allow"])))
        loaded = load_target(Path(str(path)), allow=allow)
        target, model_digest, data_digest = loaded.target, loaded.digest, ds.digest
        x, y = ds.x, ds.y
    if samples is not None:
        x, y = x[: int(samples)], y[: int(samples)]
    cross = params.get("cross_check")
    cross_n = 100 if cross is None else int(cross)
    try:
        report = evaluate(target, x, y, eps=eps, spec=spec, certify_spec=cert, cross_check=cross_n)
    finally:
        if endpoint is not None:
            endpoint.close()
    if endpoint is not None:
        report = replace(report, extra={**report.extra, "endpoint": endpoint.describe()})
    return report, model_digest, data_digest


def _float_or_none(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


class RobustnessCheck(TypedCheck[RobustnessData]):
    """Accuracy under an evasion attack over an epsilon grid, with randomized-smoothing
    certification on request and Bastion's validity checks of the evaluation itself.

    Verdict: ``warn`` when a validity check failed (the robust accuracy is withheld),
    ``fail`` when the robust accuracy at the largest eps is below ``min_accuracy``,
    ``pass`` otherwise."""

    id = "robustness.evaluation"
    title = "Accuracy under evasion attack (FGSM, PGD, Square) and certified radius"
    description = (
        "Runs an evasion attack over an epsilon grid against a scanned-safe model file and "
        "reports accuracy under perturbation, attack success rate, mean minimal "
        "perturbation, optional randomized-smoothing certification, and whether the "
        "evaluation itself is valid."
    )
    subject_kinds = ("model",)
    severity = Severity.HIGH
    references = ("AML.T0043", "NIST AI RMF MS-2.7", "OWASP ML01")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "path": ParamSpec(
            ParamKind.PATH, "model file (ONNX or scikit-learn pickle)", subject_ref=True
        ),
        "data": ParamSpec(ParamKind.PATH, "evaluation data (CSV with a header, or NPZ x/y)"),
        "label": ParamSpec(ParamKind.STR, "the label column of a CSV", max_length=100),
        "attack": ParamSpec(ParamKind.ENUM, "the attack", choices=tuple(ATTACKS)),
        "norm": ParamSpec(ParamKind.ENUM, "the perturbation norm", choices=("linf", "l2")),
        "eps": ParamSpec(ParamKind.STR, "comma-separated budgets, increasing", max_length=400),
        "steps": ParamSpec(ParamKind.INT, "PGD steps", minimum=1, maximum=1000),
        "step_size": ParamSpec(ParamKind.FLOAT, "PGD step size", minimum=1e-9, maximum=1e6),
        "random_start": ParamSpec(ParamKind.BOOL, "PGD random start"),
        "queries": ParamSpec(
            ParamKind.INT, "Square/HopSkipJump queries", minimum=1, maximum=10_000
        ),
        "samples": ParamSpec(ParamKind.INT, "evaluate the first N rows", minimum=1, maximum=10_000),
        "eot": ParamSpec(
            ParamKind.INT,
            "EOT gradient samples per step (default: 16 if random)",
            minimum=1,
            maximum=100,
        ),
        "seed": ParamSpec(ParamKind.INT, "random seed", minimum=0, maximum=2**31 - 1),
        "cross_check": ParamSpec(
            ParamKind.INT, "inputs the Square attack cross-checks", minimum=0, maximum=1000
        ),
        "clip_min": ParamSpec(
            ParamKind.FLOAT, "smallest valid input value", minimum=-1e9, maximum=1e9
        ),
        "clip_max": ParamSpec(
            ParamKind.FLOAT, "largest valid input value", minimum=-1e9, maximum=1e9
        ),
        "min_accuracy": ParamSpec(
            ParamKind.FLOAT, "fail below this robust accuracy", minimum=0, maximum=1
        ),
        "certify_sigma": ParamSpec(
            ParamKind.FLOAT, "smoothing noise sigma", minimum=1e-6, maximum=1e3
        ),
        "certify_n0": ParamSpec(ParamKind.INT, "selection samples", minimum=1, maximum=10_000),
        "certify_n": ParamSpec(ParamKind.INT, "estimation samples", minimum=1, maximum=100_000),
        "certify_alpha": ParamSpec(
            ParamKind.FLOAT, "failure probability", minimum=1e-9, maximum=0.49
        ),
    }

    def __init__(
        self, prepared: tuple[EvaluationReport, str | None, str | None] | None = None
    ) -> None:
        self._prepared = prepared

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        p = ctx.params
        min_acc = _float_or_none(p.get("min_accuracy"))
        if min_acc is not None and not (math.isfinite(min_acc) and 0 <= min_acc <= 1):
            raise RobustnessError("min_accuracy must lie in [0, 1]")
        prepared = self._prepared
        if prepared is None:
            prepared = evaluation_from_params(p, subject.ref, remote=ctx.remote)
        report, model_digest, data_digest = prepared
        data = report.to_data()
        data["min_accuracy"] = min_acc
        data["data_digest"] = data_digest
        verdict, findings = judge(report, min_acc)
        attachments = {"robustness-curve.svg": report.curve_svg().encode()}
        radius = report.radius_svg()
        if radius is not None:
            attachments["certified-radii.svg"] = radius.encode()
        return CheckResult(
            verdict=verdict,
            findings=findings,
            data=data,
            attachments=attachments,
            examined_digest=model_digest,
        )


def judge(
    report: EvaluationReport, min_accuracy: float | None
) -> tuple[Verdict, tuple[Finding, ...]]:
    """``warn`` when a validity check failed (the robust accuracy is withheld), ``fail``
    below ``min_accuracy``, ``pass`` otherwise; with one finding per reason."""
    findings: list[Finding] = [
        Finding(
            rule_id=f"robustness.validity.{v.name}",
            title=f"evaluation not valid: {v.name.replace('_', ' ')}",
            severity=Severity.HIGH,
            message=v.detail,
            references=("AML.T0043",),
            remediation="fix the evaluation before trusting its robust accuracy",
        )
        for v in report.validity
        if not v.passed
    ]
    robust = report.robust_accuracy
    if findings:
        return Verdict.WARN, tuple(findings)
    if min_accuracy is not None and robust is not None and robust < min_accuracy:
        return Verdict.FAIL, (
            Finding(
                rule_id="robustness.below_threshold",
                title="robust accuracy below the required minimum",
                severity=Severity.HIGH,
                message=f"{report.attack} at eps {report.curve[-1].eps:g}: accuracy "
                f"{robust:.3f} < {min_accuracy:.3f}",
                references=("AML.T0043",),
                remediation="adversarial training, input purification or smoothing",
            ),
        )
    return Verdict.PASS, ()


# --- robustness.defenses: the defenses compared (recorded by `bastion redteam compare`) ---


class DefenseCost(_Frozen):
    build_cpu_seconds: float
    attack_cpu_seconds: float
    predict_cpu_seconds_per_1000: float


class DefenseEntry(_Frozen):
    defense: str
    clean_accuracy: float
    robust_accuracy: dict[str, dict[str, float]]
    worst_case: dict[str, float]
    cost: DefenseCost
    notes: tuple[str, ...]


class Recommendation(_Frozen):
    use_case: str
    defense: str
    reason: str
    ranking: tuple[str, ...]
    excluded: tuple[str, ...]


class DefensesData(EvidenceData):
    """``robustness.defenses`` evidence data: every defense's clean accuracy, robust
    accuracy under each attack (``pgd``, ``square``, ``adaptive_bpda``, ``adaptive_eot``,
    ``adaptive_temperature``, ``transfer``) and the worst case over them, per eps key;
    ``worst_case_by_defense.DEFENSE.eps_0_1`` for gate conditions; the recommendation for
    the use case asked and for every use case."""

    model_type: str
    samples: int
    eps: tuple[float, ...]
    attacks: tuple[str, ...]
    defenses: tuple[DefenseEntry, ...]
    worst_case_by_defense: dict[str, dict[str, float]]
    clean_accuracy_by_defense: dict[str, float]
    use_case: str
    recommendation: Recommendation
    recommendations: dict[str, Recommendation]
    min_accuracy: float | None = None
    train_digest: str | None = None
    data_digest: str | None = None


class DefensesCheck(RecordedCheck[DefensesData]):
    """The defenses compared on one model, data and attacks (adaptive ones included),
    recorded by ``bastion redteam compare`` (``record_comparison``)."""

    id = "robustness.defenses"
    title = "Adversarial defenses compared (recorded)"
    description = (
        "Adversarial training, input purification, input randomization, defensive "
        "distillation and pruning built from the same model and attacked with the same "
        "attacks, adaptive attacks (BPDA, EOT) and transferred examples: clean and "
        "worst-case robust accuracy, cost, and a recommendation by use case. Fails when "
        "the recommended defense's worst case is below min_accuracy."
    )
    subject_kinds = ("model",)
    severity = Severity.MEDIUM
    references = ("AML.M0003", "AML.M0010", "AML.T0043")
    recorded_by = "bastion redteam compare (record_comparison)"


# --- robustness.membership: membership inference against a model ---------------------------


class DpEntry(_Frozen):
    epsilon_upper_bound: float
    delta: float
    conversion: str


class MembershipCost(_Frozen):
    cpu_seconds: float
    queries: int


class MembershipData(EvidenceData):
    """``robustness.membership`` evidence data. ``auc`` and ``tpr_at.fpr_0_001`` /
    ``tpr_at.fpr_0_01`` with bootstrap intervals (``auc_ci``, ``tpr_ci``); ``resolution``
    says whether each FPR is measurable with this many non-members (a warning when not);
    ``empirical_epsilon_lower_bound`` beside the accountant's ``dp.epsilon_upper_bound``
    for a DP-trained model."""

    attack: str
    members: int
    nonmembers: int
    auc: float
    auc_ci: tuple[float, float]
    tpr_at: dict[str, float]
    tpr_ci: dict[str, tuple[float, float]]
    resolution: dict[str, bool]
    warnings: tuple[str, ...]
    advantage: float
    empirical_epsilon_lower_bound: float
    delta: float
    confidence: float
    dp: DpEntry | None = None
    bootstrap: int
    cost: MembershipCost
    max_auc: float | None = None
    data_digests: dict[str, str] = Field(default_factory=dict)


class MembershipCheck(TypedCheck[MembershipData]):
    """Membership inference (loss threshold, or LiRA offline with shadow models cloned
    from a scikit-learn model) against a scanned-safe model file.

    Verdict: ``fail`` when the AUC is above ``max_auc`` or the empirical epsilon lower
    bound exceeds a DP model's accountant bound; ``warn`` when a FPR the report names lies
    below the sample's resolution; ``pass`` otherwise."""

    id = "robustness.membership"
    title = "Membership inference (loss threshold, LiRA offline)"
    description = (
        "Scores a model's training points (members) against points it never saw and "
        "reports AUC and TPR at 0.1% and 1% FPR with bootstrap intervals, the membership "
        "advantage and an empirical epsilon lower bound (beside the accountant's epsilon "
        "for a DP-trained model)."
    )
    subject_kinds = ("model",)
    severity = Severity.HIGH
    references = ("AML.T0024.000", "OWASP ML04", "NIST AI 100-2 E2025")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "path": ParamSpec(
            ParamKind.PATH, "model file (ONNX or scikit-learn pickle)", subject_ref=True
        ),
        "members": ParamSpec(ParamKind.PATH, "the model's training points (CSV or NPZ)"),
        "nonmembers": ParamSpec(ParamKind.PATH, "points the model never saw (CSV or NPZ)"),
        "population": ParamSpec(ParamKind.PATH, "LiRA: shadow-model data, disjoint from both"),
        "label": ParamSpec(ParamKind.STR, "the label column of a CSV", max_length=100),
        "attack": ParamSpec(ParamKind.ENUM, "the attack", choices=("loss", "lira")),
        "shadow_models": ParamSpec(ParamKind.INT, "LiRA shadow models", minimum=1, maximum=64),
        "bootstrap": ParamSpec(ParamKind.INT, "bootstrap resamples", minimum=0, maximum=2000),
        "delta": ParamSpec(ParamKind.FLOAT, "delta of the epsilon bound", minimum=0, maximum=0.1),
        "seed": ParamSpec(ParamKind.INT, "random seed", minimum=0, maximum=2**31 - 1),
        "max_auc": ParamSpec(ParamKind.FLOAT, "fail above this AUC", minimum=0, maximum=1),
        "dp_epsilon": ParamSpec(
            ParamKind.FLOAT, "the training's epsilon", minimum=1e-6, maximum=1e4
        ),
        "dp_delta": ParamSpec(ParamKind.FLOAT, "the training's delta", minimum=0, maximum=0.5),
        "dp_noise_multiplier": ParamSpec(
            ParamKind.FLOAT, "DP-SGD noise multiplier", minimum=1e-6, maximum=1e4
        ),
        "dp_sample_rate": ParamSpec(ParamKind.FLOAT, "DP-SGD sample rate", minimum=1e-9, maximum=1),
        "dp_steps": ParamSpec(ParamKind.INT, "DP-SGD steps", minimum=1, maximum=10_000_000),
    }

    def __init__(self, prepared: tuple[Any, str | None, dict[str, str]] | None = None) -> None:
        self._prepared = prepared

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.robustness._membership import membership_from_params, membership_verdict

        p = ctx.params
        max_auc = _float_or_none(p.get("max_auc"))
        if max_auc is not None and not (math.isfinite(max_auc) and 0 <= max_auc <= 1):
            raise RobustnessError("max_auc must lie in [0, 1]")
        prepared = self._prepared
        if prepared is None:
            prepared = membership_from_params(p, subject.ref, remote=ctx.remote)
        report, model_digest, digests = prepared
        data = report.to_data()
        data["max_auc"] = max_auc
        data["data_digests"] = digests
        verdict, findings = membership_verdict(report, max_auc)
        return CheckResult(
            verdict=verdict,
            findings=findings,
            data=data,
            attachments={"membership-roc.svg": report.roc_svg().encode()},
            examined_digest=model_digest,
        )


# --- robustness.detector: a calibrated detector and how well it detects ---------------------


class DetectorCost(_Frozen):
    cpu_seconds: float
    microseconds_per_input: float


class DetectorData(EvidenceData):
    """``robustness.detector`` evidence data: the calibration (threshold, target FPR), the
    FPR on other benign inputs, and per eps key the AUC and detection rate on the attack's
    adversarial examples (``tpr_at.eps_0_1``, ``auc_at.eps_0_1``); ``detector``: the config
    ``FeatureSqueezingDetector.from_config`` rebuilds it from."""

    calibration: dict[str, Any]
    attack: str
    eps: tuple[float, ...]
    samples: int
    benign_fpr: float
    detection: dict[str, dict[str, float]]
    tpr_at: dict[str, float]
    auc_at: dict[str, float]
    cost: DetectorCost
    detector: dict[str, Any]
    min_tpr: float | None = None
    data_digest: str | None = None


class DetectorCheck(RecordedCheck[DetectorData]):
    """A feature-squeezing detector calibrated and measured, recorded by ``bastion redteam
    detect`` (``record_detector``)."""

    id = "robustness.detector"
    title = "Adversarial-input detector calibrated and measured (recorded)"
    description = (
        "A feature-squeezing detector calibrated on benign inputs for a target false "
        "positive rate, with its false positive rate on other benign inputs and its AUC "
        "and detection rate on adversarial examples at each eps. Fails when the detection "
        "rate at the largest eps is below min_tpr."
    )
    subject_kinds = ("model",)
    severity = Severity.MEDIUM
    references = ("AML.M0015", "AML.T0043")
    recorded_by = "bastion redteam detect (record_detector)"
