"""Inference attacks: membership inference (loss threshold, LiRA offline) and attribute
inference, measured the way the literature asks (Carlini et al. 2022, "Membership
Inference Attacks From First Principles").

- **Loss threshold** (Yeom et al. 2018): the member score of a point is the model's
  log-probability of its true label; members of an overfit model score higher.
- **LiRA offline**: shadow models are trained (by a ``trainer`` the caller gives: a clone
  of the target's estimator, say) on random halves of a population disjoint from the
  points scored; each point's logit-scaled confidence ``log(p / (1 - p))`` on the shadow
  models, all *out* models, is fitted by a Gaussian (per point, or one global variance
  when the shadow models are few), and the member score is the one-sided likelihood that
  the target's confidence lies above the out distribution. :func:`plan_shadow_models`
  sizes the shadow budget from the measured cost of one shadow model.

Reported: ROC AUC, TPR at 0.1% and 1% FPR, each with a bootstrap confidence interval (the
members and the non-members resampled separately), a warning when a FPR lies below the
sample's resolution (fewer than 1 / FPR non-members: the TPR there is a TPR at zero false
positives), the membership advantage, and an empirical epsilon lower bound: a threshold
chosen on one half of the points, the Clopper-Pearson bounds of its TPR and FPR on the
other half, ``eps >= log((TPR_lo - delta) / FPR_hi)``. For a DP-trained model the
accountant's epsilon upper bound stands beside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta, norm, rankdata  # type: ignore[import-untyped]

from bastion.core.types import Finding, Severity, Verdict
from bastion.robustness.interface import Capability, RobustnessError, Target

__all__ = [
    "FPR_TARGETS",
    "AttributeInferenceResult",
    "DpGuarantee",
    "MembershipReport",
    "ShadowPlan",
    "attribute_inference",
    "dp_guarantee",
    "lira_offline_scores",
    "loss_scores",
    "membership_from_params",
    "membership_inference",
    "membership_verdict",
    "plan_shadow_models",
    "sklearn_trainer",
]

FPR_TARGETS = (0.001, 0.01)
MAX_POINTS = 200_000
MAX_BOOTSTRAP = 10_000
MAX_SHADOWS = 256
MAX_REMOTE_POINTS = 200_000  # members + non-members an API caller may have scored
MAX_REMOTE_SHADOW_ROWS = 2_000_000  # population rows x shadow models for an API caller
GLOBAL_VARIANCE_BELOW = 16  # Carlini et al.: per-example variances need many shadow models
_EPS = 1e-12

Trainer = Callable[[NDArray[np.float32], NDArray[np.int64], int], Target]


def _fpr_key(f: float) -> str:
    return "fpr_" + f"{f:g}".replace(".", "_")


def _xy(
    target: Target, x: NDArray[Any], y: NDArray[Any], what: str
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    from bastion.robustness._evaluate import prepare_data

    if len(np.asarray(x)) > MAX_POINTS:
        raise RobustnessError(f"{what}: more than {MAX_POINTS} points")
    try:
        return prepare_data(target, x, y)
    except RobustnessError as exc:
        raise RobustnessError(f"{what}: {exc}") from None


def loss_scores(target: Target, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float64]:
    """Member scores of the loss-threshold attack: log p(true label | x) (higher: member)."""
    if Capability.PROBABILITIES not in target.capabilities:
        raise RobustnessError(
            f"membership inference needs probabilities, which this {target.kind} target "
            "does not give"
        )
    p = np.asarray(target.predict_proba(x), dtype=np.float64)
    out: NDArray[np.float64] = np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))
    return out


def _confidence(
    target: Target, x: NDArray[np.float32], y: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Logit-scaled confidence of the true label, log(p / (1 - p)) (Carlini et al.)."""
    p = np.asarray(target.predict_proba(x), dtype=np.float64)[np.arange(len(y)), y]
    p = np.clip(p, _EPS, 1 - 1e-7)
    out: NDArray[np.float64] = np.log(p) - np.log1p(-p)
    return out


def lira_offline_scores(
    target: Target,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    shadows: Sequence[Target],
    *,
    global_variance: bool | None = None,
) -> NDArray[np.float64]:
    """LiRA offline member scores of ``(x, y)`` from shadow models that never saw them:
    ``Phi((phi_target - mu_out) / sigma_out)``."""
    if not shadows:
        raise RobustnessError("LiRA needs at least one shadow model")
    phi = _confidence(target, x, y)
    outs = np.stack([_confidence(s, x, y) for s in shadows])  # (shadows, points)
    mu = outs.mean(axis=0)
    use_global = (
        len(shadows) < GLOBAL_VARIANCE_BELOW if global_variance is None else global_variance
    )
    if len(shadows) < 2:
        # One shadow model: no spread per point; the spread of its confidences instead.
        sd = np.full_like(mu, max(float(outs.std()), 1e-3))
    elif use_global:
        sd = np.full_like(
            mu, max(float(np.sqrt(((outs - mu) ** 2).sum() / (outs.size - mu.size))), 1e-3)
        )
    else:
        sd = np.maximum(outs.std(axis=0, ddof=1), 1e-3)
    out: NDArray[np.float64] = norm.logcdf((phi - mu) / sd)
    return out


def sklearn_trainer(estimator: Any) -> Trainer:
    """Shadow models for LiRA: unfitted clones of a scikit-learn estimator, fitted on each
    shadow set (``random_state`` set to the shadow's seed where the estimator has one)."""
    from sklearn.base import clone  # type: ignore[import-untyped]

    from bastion.robustness._targets import SklearnTarget

    classes = np.asarray(estimator.classes_)

    def train(x: NDArray[np.float32], y: NDArray[np.int64], seed: int) -> Target:
        est = clone(estimator)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        est.fit(x.reshape(len(x), -1), classes[y])
        return SklearnTarget(est)

    return train


@dataclass(frozen=True)
class ShadowPlan:
    """How many shadow models a CPU budget buys, and what that means for LiRA."""

    models: int
    seconds_per_model: float
    cpu_budget_seconds: float
    variance: str  # "global" or "per-example"
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "seconds_per_model": round(self.seconds_per_model, 4),
            "cpu_budget_seconds": self.cpu_budget_seconds,
            "variance": self.variance,
            "advice": self.advice,
        }


def plan_shadow_models(
    cpu_budget_seconds: float, seconds_per_model: float, *, max_models: int = 64
) -> ShadowPlan:
    """Shadow models within ``cpu_budget_seconds`` when one costs ``seconds_per_model``.

    Carlini et al. (2022, fig. 10): offline LiRA with a global variance already works with
    a handful of shadow models and improves slowly past 64; per-example variances need 16
    or more. Below 2 models LiRA is not worth running: the loss threshold is the attack."""
    if not (math.isfinite(cpu_budget_seconds) and cpu_budget_seconds > 0):
        raise RobustnessError("the shadow-model budget must be a positive number of CPU-seconds")
    if not (math.isfinite(seconds_per_model) and seconds_per_model >= 0):
        raise RobustnessError("seconds_per_model must be a non-negative number")
    if not 1 <= max_models <= MAX_SHADOWS:
        raise RobustnessError(f"max_models must lie in 1..{MAX_SHADOWS}")
    n = max_models if seconds_per_model == 0 else int(cpu_budget_seconds // seconds_per_model)
    n = min(n, max_models)
    variance = "per-example" if n >= GLOBAL_VARIANCE_BELOW else "global"
    if n < 2:
        advice = (
            f"{n} shadow model(s) fit the budget: run the loss-threshold attack instead, or "
            f"give at least {2 * seconds_per_model:.1f} CPU-s"
        )
    elif n < GLOBAL_VARIANCE_BELOW:
        advice = (
            f"{n} shadow models: LiRA offline with one global variance; "
            f"{GLOBAL_VARIANCE_BELOW * seconds_per_model:.1f} CPU-s would allow per-example "
            "variances"
        )
    else:
        advice = f"{n} shadow models: LiRA offline with per-example variances"
    return ShadowPlan(n, seconds_per_model, cpu_budget_seconds, variance, advice)


@dataclass(frozen=True)
class DpGuarantee:
    """The accountant's (epsilon, delta) for a DP-trained model and how it was converted."""

    epsilon: float
    delta: float
    accountant: str = "rdp (dp-accounting, Opacus orders): RDP converted to (epsilon, delta)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon_upper_bound": self.epsilon,
            "delta": self.delta,
            "conversion": self.accountant,
        }


def _auc(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> float:
    r = rankdata(np.concatenate([pos, neg]))
    n1, n0 = len(pos), len(neg)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _tpr_at(pos: NDArray[np.float64], neg: NDArray[np.float64], fpr: float) -> float:
    """The largest TPR over thresholds whose FPR is at most ``fpr`` (scores above t)."""
    neg_sorted = np.sort(neg)[::-1]
    k = math.floor(fpr * len(neg))  # false positives allowed
    # Threshold just above the (k+1)-th largest negative: at most k negatives above it.
    t = neg_sorted[k] if k < len(neg) else -np.inf
    return float((pos > t).mean())


def _roc(
    pos: NDArray[np.float64], neg: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(lab)[distinct]
    fps = np.cumsum(1 - lab)[distinct]
    return np.r_[0.0, fps / len(neg)], np.r_[0.0, tps / len(pos)]


def _cp(k: int, n: int, conf: float) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval of k successes in n at confidence ``conf``."""
    a = 1 - conf
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def _epsilon_lower_bound(
    pos: NDArray[np.float64],
    neg: NDArray[np.float64],
    delta: float,
    rng: np.random.Generator,
    conf: float,
) -> float:
    """A threshold chosen on half the points, bounded (Clopper-Pearson) on the other half."""
    pp, pn = rng.permutation(len(pos)), rng.permutation(len(neg))
    a_pos, b_pos = pos[pp[: len(pos) // 2]], pos[pp[len(pos) // 2 :]]
    a_neg, b_neg = neg[pn[: len(neg) // 2]], neg[pn[len(neg) // 2 :]]
    if min(len(a_pos), len(a_neg), len(b_pos), len(b_neg)) < 2:
        return 0.0
    cand = np.unique(np.quantile(np.concatenate([a_pos, a_neg]), np.linspace(0.5, 0.999, 60)))
    best_t, best = None, -np.inf
    for t in cand:
        tpr = ((a_pos > t).sum() + 0.5) / (len(a_pos) + 1)
        fpr = ((a_neg > t).sum() + 0.5) / (len(a_neg) + 1)
        e = math.log(max(tpr - delta, _EPS) / fpr)
        if e > best:
            best_t, best = t, e
    if best_t is None:
        return 0.0
    tpr_lo, _ = _cp(int((b_pos > best_t).sum()), len(b_pos), conf)
    _, fpr_hi = _cp(int((b_neg > best_t).sum()), len(b_neg), conf)
    if tpr_lo - delta <= 0 or fpr_hi <= 0:
        return 0.0
    return max(0.0, math.log((tpr_lo - delta) / fpr_hi))


@dataclass(frozen=True)
class MembershipReport:
    attack: str
    members: int
    nonmembers: int
    auc: float
    auc_ci: tuple[float, float]
    tpr_at: dict[str, float]
    tpr_ci: dict[str, tuple[float, float]]
    resolution: dict[str, bool]  # fpr key -> resolvable with this many non-members
    warnings: tuple[str, ...]
    advantage: float
    empirical_epsilon: float
    delta: float
    confidence: float
    dp: DpGuarantee | None
    shadow: ShadowPlan | None
    bootstrap: int
    cpu_seconds: float
    queries: int
    roc_fpr: NDArray[np.float64] = field(repr=False, default_factory=lambda: np.zeros(0))
    roc_tpr: NDArray[np.float64] = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_data(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "members": self.members,
            "nonmembers": self.nonmembers,
            "auc": self.auc,
            "auc_ci": list(self.auc_ci),
            "tpr_at": self.tpr_at,
            "tpr_ci": {k: list(v) for k, v in self.tpr_ci.items()},
            "resolution": self.resolution,
            "warnings": list(self.warnings),
            "advantage": self.advantage,
            "empirical_epsilon_lower_bound": self.empirical_epsilon,
            "delta": self.delta,
            "confidence": self.confidence,
            "dp": self.dp.to_dict() if self.dp is not None else None,
            "shadow_models": self.shadow.to_dict() if self.shadow is not None else None,
            "bootstrap": self.bootstrap,
            "cost": {"cpu_seconds": round(self.cpu_seconds, 4), "queries": self.queries},
        }

    def roc_svg(self) -> str:
        """The ROC curve on log-log axes (the low-FPR regime Carlini et al. ask to show)."""
        from matplotlib.figure import Figure

        from bastion.core.charts import render_svg

        fig = Figure(figsize=(4.8, 4.2))
        ax = fig.add_subplot()
        floor = 1.0 / max(2, self.nonmembers)
        f = np.maximum(self.roc_fpr, floor / 2)
        t = np.maximum(self.roc_tpr, floor / 2)
        ax.plot(f, t, color="#1f4e79", label=f"{self.attack} (AUC {self.auc:.3f})")
        ax.plot([floor / 2, 1], [floor / 2, 1], linestyle="--", color="#888888", label="chance")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("Membership inference ROC")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(True, alpha=0.3)
        return render_svg(fig, "bastion-robustness")


def membership_inference(
    target: Target,
    members: tuple[NDArray[Any], NDArray[Any]],
    nonmembers: tuple[NDArray[Any], NDArray[Any]],
    *,
    attack: str = "loss",
    population: tuple[NDArray[Any], NDArray[Any]] | None = None,
    trainer: Trainer | None = None,
    shadow_models: int | None = None,
    shadow_budget_seconds: float | None = None,
    bootstrap: int = 200,
    confidence: float = 0.95,
    delta: float = 1e-5,
    dp: DpGuarantee | None = None,
    seed: int = 0,
) -> MembershipReport:
    """Membership inference against ``target``: ``members`` (its training points) scored
    against ``nonmembers`` (points it never saw). ``attack``: ``loss`` or ``lira``
    (needs ``population`` disjoint from both and a ``trainer``; ``shadow_models`` or a
    ``shadow_budget_seconds`` the planner turns into a number)."""
    if attack not in ("loss", "lira"):
        raise RobustnessError(f"unknown membership attack {attack[:40]!r} (known: loss, lira)")
    if isinstance(bootstrap, bool) or not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise RobustnessError(f"bootstrap must lie in 0..{MAX_BOOTSTRAP}")
    if not 0.5 <= confidence < 1 or not 0 <= delta < 1:
        raise RobustnessError("confidence must lie in [0.5, 1) and delta in [0, 1)")
    if Capability.PROBABILITIES not in target.capabilities:
        raise RobustnessError(
            f"membership inference needs probabilities, which this {target.kind} target "
            "does not give"
        )
    xm, ym = _xy(target, *members, "members")
    xn, yn = _xy(target, *nonmembers, "non-members")
    if len(xm) < 10 or len(xn) < 10:
        raise RobustnessError("give at least 10 members and 10 non-members")
    plan: ShadowPlan | None = None
    if attack == "lira":
        if trainer is None or population is None:
            raise RobustnessError("LiRA needs a population (disjoint from both sets) and a trainer")
        xp, yp = _xy(target, *population, "population")
        if len(xp) < 20:
            raise RobustnessError("population: at least 20 points for the shadow models")
        if shadow_models is None and shadow_budget_seconds is None:
            raise RobustnessError("LiRA: give shadow_models or shadow_budget_seconds")
        if shadow_models is not None and not 1 <= shadow_models <= MAX_SHADOWS:
            raise RobustnessError(f"shadow_models must lie in 1..{MAX_SHADOWS}")
        if shadow_budget_seconds is not None and not (
            math.isfinite(shadow_budget_seconds) and shadow_budget_seconds > 0
        ):
            raise RobustnessError("shadow_budget_seconds must be a positive number")
    t0 = time.process_time()
    rng = np.random.default_rng(seed)
    queries = len(xm) + len(xn)
    if attack == "loss":
        pos, neg = loss_scores(target, xm, ym), loss_scores(target, xn, yn)
    else:
        half = len(xp) // 2
        train_shadow: Trainer = trainer  # type: ignore[assignment]  # checked above

        def shadow(i: int) -> Target:
            idx = np.random.default_rng(seed + 1 + i).permutation(len(xp))[:half]
            return train_shadow(xp[idx], yp[idx], seed + 1 + i)

        c0 = time.process_time()
        shadows = [shadow(0)]
        per = time.process_time() - c0
        if shadow_models is not None:
            n_models = shadow_models
            plan = ShadowPlan(
                n_models,
                per,
                float("nan"),
                "global" if n_models < GLOBAL_VARIANCE_BELOW else "per-example",
                f"{n_models} shadow models asked",
            )
        else:
            assert shadow_budget_seconds is not None
            plan = plan_shadow_models(shadow_budget_seconds, per)
            n_models = max(1, plan.models)
        shadows += [shadow(i) for i in range(1, n_models)]
        xs, ys = np.concatenate([xm, xn]), np.concatenate([ym, yn])
        scores = lira_offline_scores(target, xs, ys, shadows)
        pos, neg = scores[: len(xm)], scores[len(xm) :]
        queries += len(xs) * len(shadows)
    auc = _auc(pos, neg)
    tpr = {_fpr_key(f): _tpr_at(pos, neg, f) for f in FPR_TARGETS}
    boot_auc: list[float] = []
    boot_tpr: dict[str, list[float]] = {k: [] for k in tpr}
    for _ in range(bootstrap):
        bp = pos[rng.integers(0, len(pos), len(pos))]
        bn = neg[rng.integers(0, len(neg), len(neg))]
        boot_auc.append(_auc(bp, bn))
        for f in FPR_TARGETS:
            boot_tpr[_fpr_key(f)].append(_tpr_at(bp, bn, f))
    q = ((1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100)

    def ci(v: list[float], point: float) -> tuple[float, float]:
        if not v:
            return (point, point)
        lo, hi = np.percentile(v, q)
        return (float(lo), float(hi))

    resolution = {_fpr_key(f): len(neg) * f >= 1 for f in FPR_TARGETS}
    warnings = [
        f"FPR {f:g} lies below the sample's resolution: {len(neg)} non-members resolve FPRs "
        f"down to {1 / len(neg):.2g}; the TPR reported there is the TPR at zero false "
        f"positives (give at least {math.ceil(10 / f)} non-members to measure it)"
        for f in FPR_TARGETS
        if not resolution[_fpr_key(f)]
    ]
    fpr_curve, tpr_curve = _roc(pos, neg)
    eps_lb = _epsilon_lower_bound(pos, neg, delta, rng, confidence)
    if dp is not None and eps_lb > dp.epsilon + 1e-9:
        warnings.append(
            f"the empirical epsilon lower bound {eps_lb:.3f} exceeds the accountant's upper "
            f"bound {dp.epsilon:.3f}: the DP training or its accounting is wrong"
        )
    return MembershipReport(
        attack=attack,
        members=len(pos),
        nonmembers=len(neg),
        auc=auc,
        auc_ci=ci(boot_auc, auc),
        tpr_at=tpr,
        tpr_ci={k: ci(v, tpr[k]) for k, v in boot_tpr.items()},
        resolution=resolution,
        warnings=tuple(warnings),
        advantage=float(np.max(tpr_curve - fpr_curve)),
        empirical_epsilon=eps_lb,
        delta=delta,
        confidence=confidence,
        dp=dp,
        shadow=plan,
        bootstrap=bootstrap,
        cpu_seconds=time.process_time() - t0,
        queries=queries,
        roc_fpr=fpr_curve,
        roc_tpr=tpr_curve,
    )


@dataclass(frozen=True)
class AttributeInferenceResult:
    """Attribute inference (Fredrikson et al. 2015; Yeom et al. 2018): the attacker knows
    a record's other features and its label and picks the value of the sensitive feature
    under which the model's loss is lowest."""

    feature: int
    values: tuple[float, ...]
    accuracy_members: float
    accuracy_nonmembers: float
    baseline: float  # always guessing the most common value among the members
    queries: int

    @property
    def advantage(self) -> float:
        """How much better than the baseline the attack does on members."""
        return self.accuracy_members - self.baseline

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "values": list(self.values),
            "accuracy_members": self.accuracy_members,
            "accuracy_nonmembers": self.accuracy_nonmembers,
            "baseline": self.baseline,
            "advantage": self.advantage,
            "queries": self.queries,
        }


def attribute_inference(
    target: Target,
    members: tuple[NDArray[Any], NDArray[Any]],
    nonmembers: tuple[NDArray[Any], NDArray[Any]],
    *,
    feature: int,
    values: Sequence[float] | None = None,
) -> AttributeInferenceResult:
    """Infer feature ``feature`` of each record from the model (``values``: the candidate
    values, None: those the members take, at most 64)."""
    xm, ym = _xy(target, *members, "members")
    xn, yn = _xy(target, *nonmembers, "non-members")
    d = int(np.prod(xm.shape[1:]))
    if isinstance(feature, bool) or not 0 <= feature < d:
        raise RobustnessError(f"feature must lie in 0..{d - 1}")
    col = xm.reshape(len(xm), -1)[:, feature]
    cand = np.unique(col) if values is None else np.asarray(values, dtype=np.float64)
    if not 2 <= cand.size <= 64 or not np.isfinite(cand).all():
        raise RobustnessError("attribute inference needs 2-64 finite candidate values")

    def infer(x: NDArray[np.float32], y: NDArray[np.int64]) -> NDArray[np.float64]:
        flat = x.reshape(len(x), -1)
        losses = []
        for v in cand:
            trial = flat.copy()
            trial[:, feature] = v
            losses.append(-loss_scores(target, trial.reshape(x.shape).astype(np.float32), y))
        out: NDArray[np.float64] = cand[np.argmin(np.stack(losses), axis=0)]
        return out

    true_m = col
    true_n = xn.reshape(len(xn), -1)[:, feature]
    vals, counts = np.unique(true_m, return_counts=True)
    majority = vals[counts.argmax()]
    return AttributeInferenceResult(
        feature=feature,
        values=tuple(float(v) for v in cand),
        accuracy_members=float((np.isclose(infer(xm, ym), true_m)).mean()),
        accuracy_nonmembers=float((np.isclose(infer(xn, yn), true_n)).mean()),
        baseline=float(np.isclose(true_m, majority).mean()),
        queries=(len(xm) + len(xn)) * int(cand.size),
    )


def dp_guarantee(
    *,
    epsilon: float | None = None,
    delta: float | None = None,
    noise_multiplier: float | None = None,
    sample_rate: float | None = None,
    steps: int | None = None,
) -> DpGuarantee | None:
    """The accountant's bound for a DP-SGD run: from its noise multiplier, sample rate and
    steps (the privacy room's RDP accountant, Opacus's orders), or an (epsilon, delta) the
    training reported; None when neither is given."""
    if noise_multiplier is not None or sample_rate is not None or steps is not None:
        if noise_multiplier is None or sample_rate is None or steps is None or delta is None:
            raise RobustnessError(
                "DP-SGD accounting needs the noise multiplier, sample rate, steps and delta"
            )
        if not (noise_multiplier > 0 and 0 < sample_rate <= 1 and 1 <= steps <= 10_000_000):
            raise RobustnessError("DP-SGD: noise multiplier > 0, sample rate in (0, 1], steps >= 1")
        if not 0 < delta < 1:
            raise RobustnessError("delta must lie in (0, 1)")
        from bastion.privacy.dp import dp_sgd_epsilon

        eps = dp_sgd_epsilon(noise_multiplier, delta, sample_rate, steps)
        return DpGuarantee(
            eps,
            delta,
            f"rdp (dp-accounting, Opacus orders) of DP-SGD: noise multiplier "
            f"{noise_multiplier:g}, sample rate {sample_rate:g}, {steps} steps; RDP converted "
            "to (epsilon, delta)",
        )
    if epsilon is None:
        return None
    if not (math.isfinite(epsilon) and epsilon > 0) or delta is None or not 0 <= delta < 1:
        raise RobustnessError("a DP guarantee needs epsilon > 0 and delta in [0, 1)")
    return DpGuarantee(epsilon, delta, "as the training reported it (conversion not checked)")


def membership_from_params(
    params: Mapping[str, Any], subject_ref: str | None = None, *, remote: bool = False
) -> tuple[MembershipReport, str | None, dict[str, str]]:
    """Run the membership inference the parameters describe: (report, model digest, data
    digests). ``target`` + ``members``/``nonmembers`` as (x, y) pairs (in-process), or
    ``path`` (a model file, default the subject ref) + ``members`` and ``nonmembers``
    data files (and ``population`` for LiRA on a scikit-learn model: its shadow models
    are clones of the estimator)."""
    from bastion.robustness._data import load_dataset
    from bastion.robustness._targets import SklearnTarget, load_target

    attack = str(params.get("attack", "loss"))
    bootstrap = int(params.get("bootstrap", 200))
    if remote and bootstrap > 2000:
        raise RobustnessError("bootstrap: at most 2000 for an API caller")
    shadows = params.get("shadow_models")
    dp = dp_guarantee(
        epsilon=_opt_float(params.get("dp_epsilon")),
        delta=_opt_float(params.get("dp_delta")),
        noise_multiplier=_opt_float(params.get("dp_noise_multiplier")),
        sample_rate=_opt_float(params.get("dp_sample_rate")),
        steps=None if params.get("dp_steps") is None else int(params["dp_steps"]),
    )
    digests: dict[str, str] = {}
    model_digest: str | None = None
    target: Any = params.get("target")
    population: tuple[NDArray[Any], NDArray[Any]] | None = None
    trainer: Trainer | None = params.get("trainer") if not remote else None
    if target is not None:
        if remote or not isinstance(target, Target):
            raise RobustnessError("target: a ready target is for in-process callers only")
        members = params["members"]
        nonmembers = params["nonmembers"]
        population = params.get("population")
    else:
        path = params.get("path") or subject_ref
        if not path or not params.get("members") or not params.get("nonmembers"):
            raise RobustnessError("give the model file (path), members and nonmembers data files")
        label = str(params.get("label", "label"))
        sets = {}
        for key in ("members", "nonmembers", "population"):
            if params.get(key):
                ds = load_dataset(Path(str(params[key])), label=label)
                sets[key] = (ds.x, ds.y)
                digests[key] = ds.digest
        loaded = load_target(Path(str(path)))
        target, model_digest = loaded.target, loaded.digest
        members, nonmembers = sets["members"], sets["nonmembers"]
        population = sets.get("population")
        if remote:
            scored = len(members[0]) + len(nonmembers[0])
            shadow_rows = (len(population[0]) if population else 0) * int(shadows or 1)
            if scored > MAX_REMOTE_POINTS or shadow_rows > MAX_REMOTE_SHADOW_ROWS:
                raise RobustnessError(
                    f"an API caller may score at most {MAX_REMOTE_POINTS:,} points and train "
                    f"shadow models on at most {MAX_REMOTE_SHADOW_ROWS:,} rows in all"
                )
        if attack == "lira" and isinstance(target, SklearnTarget):
            trainer = sklearn_trainer(target.estimator)
        elif attack == "lira":
            raise RobustnessError("LiRA from a model file needs a scikit-learn model to clone")
    report = membership_inference(
        target,
        members,
        nonmembers,
        attack=attack,
        population=population,
        trainer=trainer,
        shadow_models=None if shadows is None else int(shadows),
        shadow_budget_seconds=_opt_float(params.get("shadow_budget_seconds")),
        bootstrap=bootstrap,
        delta=float(params.get("delta", 1e-5)),
        dp=dp,
        seed=int(params.get("seed", 0)),
    )
    return report, model_digest, digests


def _opt_float(v: object) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise RobustnessError("expected a number")
    try:
        return float(v)
    except ValueError:
        raise RobustnessError("expected a number") from None


def membership_verdict(
    report: MembershipReport, max_auc: float | None
) -> tuple[Verdict, tuple[Finding, ...]]:
    """``fail`` above ``max_auc`` or when the empirical epsilon exceeds the accountant's;
    ``warn`` when a FPR lies below the sample's resolution; ``pass`` otherwise."""
    findings: list[Finding] = []
    fail = False
    if max_auc is not None and report.auc > max_auc:
        fail = True
        findings.append(
            Finding(
                rule_id="robustness.membership.leak",
                title="the model leaks membership of its training data",
                severity=Severity.HIGH,
                message=f"{report.attack} attack AUC {report.auc:.3f} > {max_auc:.3f} "
                f"(95% interval {report.auc_ci[0]:.3f}-{report.auc_ci[1]:.3f})",
                references=("AML.T0024.000",),
                remediation="regularise, train with DP-SGD, or release labels only",
            )
        )
    if report.dp is not None and report.empirical_epsilon > report.dp.epsilon + 1e-9:
        fail = True
        findings.append(
            Finding(
                rule_id="robustness.membership.dp_violated",
                title="the attack's epsilon lower bound exceeds the DP guarantee",
                severity=Severity.CRITICAL,
                message=f"empirical epsilon >= {report.empirical_epsilon:.3f} at delta "
                f"{report.delta:g}, accountant's bound {report.dp.epsilon:.3f}",
                references=("AML.T0024.000",),
                remediation="audit the DP-SGD implementation and its accounting",
            )
        )
    if fail:
        return Verdict.FAIL, tuple(findings)
    if not all(report.resolution.values()):
        findings.extend(
            Finding(
                rule_id="robustness.membership.resolution",
                title="a reported FPR is below the sample's resolution",
                severity=Severity.LOW,
                message=w,
                references=("AML.T0024.000",),
                remediation="score more non-members",
            )
            for w in report.warnings
            if "resolution" in w
        )
        return Verdict.WARN, tuple(findings)
    return Verdict.PASS, tuple(findings)
