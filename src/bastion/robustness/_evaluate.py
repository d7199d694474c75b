"""An evaluation: one attack over an epsilon grid, its metrics and its own validity.

Everything that can be refused is refused before any work starts (``RobustnessError``):
data whose shape the model does not take, labels outside its classes, values outside the
clip range, an epsilon outside the data's range, an attack that needs more than the target
gives. The attack runs only on inputs the model classifies correctly.

Metrics: accuracy under perturbation at each epsilon (the curve), the attack success rate
(share of correctly classified inputs the attack fools), the mean minimal perturbation (the
norm of the smallest-budget adversarial example found for each fooled input: an upper
bound of the true minimum). Validity (Bastion refuses numbers it cannot trust): vanishing
input gradients, a random forward pass, robust accuracy rising with epsilon, robust
accuracy that does not fall even at half the data's range, an attack that never reaches its
budget. A failed validity check withholds the robust accuracy from the headline fields.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.robustness._attacks import AttackOutcome, check_supported, run_attack
from bastion.robustness._charts import curve_svg, radius_svg
from bastion.robustness._smoothing import certify
from bastion.robustness.interface import (
    AttackSpec,
    Capability,
    CertificationResult,
    CertifySpec,
    CurvePoint,
    Norm,
    RobustnessError,
    Target,
    ValidityResult,
)

__all__ = [
    "CertifySpec",
    "EvaluationReport",
    "eps_key",
    "evaluate",
    "prepare_data",
]

MAX_SAMPLES = 100_000
MAX_EPS = 32
MAX_STEPS = 10_000
MAX_QUERIES = 100_000
#: gradient samples per step when the forward pass is found random and eot is not given
EOT_SAMPLES = 16
MAX_EOT = 1000
ZERO_GRADIENT_LIMIT = 0.1
BUDGET_USE_LIMIT = 0.5
CROSS_CHECK_SAMPLES = 100
CROSS_CHECK_QUERIES = 200
MAX_CROSS_CHECK = 10_000


def eps_key(eps: float) -> str:
    """A field name for an epsilon that policy conditions can name: 0.1 -> ``eps_0_1``."""
    return "eps_" + f"{eps:g}".replace(".", "_").replace("-", "m").replace("+", "")


@dataclass(frozen=True)
class EvaluationReport:
    attack: str
    spec: AttackSpec
    target_kind: str
    capabilities: tuple[str, ...]
    samples: int
    clean_accuracy: float
    curve: tuple[CurvePoint, ...]
    attack_success_rate: float
    mean_minimal_perturbation: float | None
    validity: tuple[ValidityResult, ...]
    cpu_seconds: float
    gradient_evaluations: int
    queries: int
    certification: CertificationResult | None = None
    certify_spec: CertifySpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(v.passed for v in self.validity)

    @property
    def robust_accuracy(self) -> float | None:
        """Accuracy at the largest epsilon, None when the evaluation is not valid."""
        return self.curve[-1].accuracy if self.valid and self.curve else None

    def curve_svg(self) -> str:
        title = f"{self.attack.upper()} ({self.spec.norm.value}) on {self.target_kind}"
        return curve_svg(self.curve, self.clean_accuracy, title=title, valid=self.valid)

    def radius_svg(self) -> str | None:
        return radius_svg(self.certification) if self.certification is not None else None

    def to_data(self) -> dict[str, Any]:
        s = self.spec
        data: dict[str, Any] = {
            "attack": self.attack,
            "norm": s.norm.value,
            "target": {"kind": self.target_kind, "capabilities": list(self.capabilities)},
            "samples": self.samples,
            "parameters": {
                "steps": s.steps,
                "step_size": s.step_size,
                "random_start": s.random_start,
                "seed": s.seed,
                "clip": [s.clip_min, s.clip_max],
                "queries": s.queries if self.attack in ("square", "hopskipjump") else None,
                "constraints": s.constraints is not None,
                "eot": s.eot or 1,
            },
            "eps": [p.eps for p in self.curve],
            "clean_accuracy": self.clean_accuracy,
            "curve": [
                {
                    "eps": p.eps,
                    "accuracy": p.accuracy,
                    "success_rate": p.success_rate,
                    "mean_perturbation": p.mean_perturbation,
                    "max_perturbation": p.max_perturbation,
                }
                for p in self.curve
            ],
            "valid": self.valid,
            "validity": [v.to_dict() for v in self.validity],
            "robust_accuracy": self.robust_accuracy,
            "robust_accuracy_at": {eps_key(p.eps): p.accuracy for p in self.curve}
            if self.valid
            else {},
            "attack_success_rate": self.attack_success_rate,
            "mean_minimal_perturbation": self.mean_minimal_perturbation,
            "cost": {
                "cpu_seconds": round(self.cpu_seconds, 4),
                "gradient_evaluations": self.gradient_evaluations,
                "queries": self.queries,
            },
            "certification": None,
        }
        data.update(self.extra)
        c, cs = self.certification, self.certify_spec
        if c is not None and cs is not None:
            ok = c.radii[(c.predictions == c.labels) & (c.predictions >= 0)]
            data["certification"] = {
                "sigma": c.sigma,
                "n0": c.n0,
                "n": c.n,
                "alpha": c.alpha,
                "certified_accuracy": {
                    "r_" + f"{r:g}".replace(".", "_"): c.certified_accuracy(r) for r in cs.radii
                },
                "abstain_rate": c.abstain_rate,
                "mean_certified_radius": float(ok.mean()) if ok.size else 0.0,
                "radius_histogram": c.histogram(),
                "cost": {"cpu_seconds": round(c.cpu_seconds, 4), "queries": c.queries},
            }
        return data


def prepare_data(
    target: Target, x: NDArray[Any], y: NDArray[Any]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The data as the target takes it, or ``RobustnessError`` saying what does not fit."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0:
        raise RobustnessError("data: expected at least one input row")
    if len(x) > MAX_SAMPLES:
        raise RobustnessError(f"data: more than {MAX_SAMPLES} inputs (use --samples)")
    shape = tuple(target.input_shape)
    if tuple(x.shape[1:]) != shape:
        if x.ndim == 2 and x.shape[1] == math.prod(shape):
            x = x.reshape((len(x), *shape))
        else:
            raise RobustnessError(
                f"data: inputs of shape {tuple(x.shape[1:])} do not match the model's input "
                f"shape {shape}"
            )
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise RobustnessError("data: inputs must be finite numbers")
    if y.shape != (len(x),):
        raise RobustnessError(f"data: {y.size} labels for {len(x)} inputs")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.equal(np.mod(y, 1), 0)):
        raise RobustnessError("data: labels must be class indices (whole numbers)")
    yi = y.astype(np.int64)
    if yi.min() < 0 or yi.max() >= target.n_classes:
        raise RobustnessError(f"data: labels outside the model's classes 0..{target.n_classes - 1}")
    return np.ascontiguousarray(x, dtype=np.float32), yi


def _check_spec(
    target: Target, x: NDArray[np.float32], eps: tuple[float, ...], spec: AttackSpec
) -> None:
    check_supported(target, spec.name)
    if not eps or len(eps) > MAX_EPS:
        raise RobustnessError(f"eps: give 1-{MAX_EPS} values")
    if not 1 <= spec.steps <= MAX_STEPS:
        raise RobustnessError(f"steps must lie in 1..{MAX_STEPS}")
    if not 1 <= spec.queries <= MAX_QUERIES:
        raise RobustnessError(f"queries must lie in 1..{MAX_QUERIES}")
    if spec.step_size is not None and not (math.isfinite(spec.step_size) and spec.step_size > 0):
        raise RobustnessError("step_size must be a positive number")
    if not (math.isfinite(spec.clip_min) and math.isfinite(spec.clip_max)) or not (
        spec.clip_min < spec.clip_max
    ):
        raise RobustnessError("clip: expected finite clip_min < clip_max")
    flat = x.reshape(len(x), -1)
    c = spec.constraints
    d = flat.shape[1]
    lo = np.full(d, spec.clip_min) if c is None or c.lower is None else np.asarray(c.lower)
    hi = np.full(d, spec.clip_max) if c is None or c.upper is None else np.asarray(c.upper)
    if c is not None:
        c.validate(d)
    if (flat < lo - 1e-6).any() or (flat > hi + 1e-6).any():
        raise RobustnessError(
            f"data: values outside the valid range [{spec.clip_min:g}, {spec.clip_max:g}] "
            "(or the constraints' bounds); set the clip range to the data's range"
        )
    scale = np.ones(d) if c is None or c.scale is None else np.asarray(c.scale)
    top = float(((hi - lo) / scale).max())
    if spec.norm is Norm.L2:
        top *= math.sqrt(d)
    for e in eps:
        if not (math.isfinite(e) and 0 < e <= top):
            raise RobustnessError(
                f"eps {e:g} lies outside the data's range (0, {top:g}] for {spec.norm.value}"
            )
    if list(eps) != sorted(set(eps)):
        raise RobustnessError("eps: give distinct values in increasing order")


def _is_deterministic(target: Target, x: NDArray[np.float32]) -> bool:
    probe = x[:64]
    if Capability.PROBABILITIES in target.capabilities:
        return bool(np.array_equal(target.predict_proba(probe), target.predict_proba(probe)))
    return bool(np.array_equal(target.predict_labels(probe), target.predict_labels(probe)))


def _deterministic(same: bool, spec: AttackSpec) -> ValidityResult:
    eot = spec.eot or 1
    if same:
        detail = "the same inputs give the same outputs"
        return ValidityResult("deterministic_forward", True, detail)
    if eot > 1 and spec.name in ("fgsm", "pgd"):
        return ValidityResult(
            "deterministic_forward",
            True,
            f"the forward pass is random: {spec.name} used expectation over transformation "
            f"({eot} gradient samples averaged per step)",
        )
    return ValidityResult(
        "deterministic_forward",
        False,
        "the forward pass is random: an attack against it needs expectation over "
        "transformation, which this evaluation did not use"
        + (" (eot=1 was asked for)" if spec.name in ("fgsm", "pgd") else "")
        + "; its numbers are not trusted",
    )


def _validity(
    target: Target,
    x: NDArray[np.float32],
    spec: AttackSpec,
    clean: float,
    curve: list[CurvePoint],
    outcomes: list[AttackOutcome],
    robust_masks: list[NDArray[np.bool_]],
    n: int,
    top: float,
    same: bool,
) -> tuple[ValidityResult, ...]:
    tol = max(2.0 / n, 0.01)
    out = [_deterministic(same, spec)]
    if spec.name in ("fgsm", "pgd") and outcomes:
        share = outcomes[0].zero_gradient_share
        out.append(
            ValidityResult(
                "gradients",
                share <= ZERO_GRADIENT_LIMIT,
                f"{share:.0%} of the attacked inputs have an exactly zero input gradient"
                + (
                    ""
                    if share <= ZERO_GRADIENT_LIMIT
                    else " (vanishing gradients: gradient masking makes a gradient attack "
                    "overstate robustness; try a score-based attack)"
                ),
            )
        )
    rises = [
        (a.eps, b.eps)
        for a, b in zip([CurvePoint(0.0, clean, 0, 0, 0), *curve], curve, strict=False)
        if b.accuracy > a.accuracy + tol
    ]
    out.append(
        ValidityResult(
            "monotone",
            not rises,
            "accuracy does not rise as epsilon grows"
            if not rises
            else "accuracy rises from eps "
            + ", ".join(f"{a:g} to {b:g}" for a, b in rises)
            + ": a larger budget should never help the model; the attack is not converging",
        )
    )
    short = []
    for p, o, robust in zip(curve, outcomes, robust_masks, strict=True):
        if robust.any():
            use = float(o.perturbation[robust].mean()) / p.eps
            if use < BUDGET_USE_LIMIT:
                short.append(f"{p.eps:g} ({use:.0%})")
    out.append(
        ValidityResult(
            "budget_reached",
            not short,
            "the attack uses its budget on the inputs it does not fool"
            if not short
            else "the attack never reaches its budget at eps "
            + ", ".join(short)
            + " of the budget used on average): too few steps, too small a step, or "
            "vanishing gradients",
        )
    )
    if curve and curve[-1].eps >= 0.5 * top and clean > 1.0 / target.n_classes + tol:
        flat = curve[-1].accuracy >= clean - tol
        out.append(
            ValidityResult(
                "accuracy_falls",
                not flat,
                f"accuracy falls from {clean:.3f} to {curve[-1].accuracy:.3f} at eps "
                f"{curve[-1].eps:g}"
                if not flat
                else f"accuracy does not fall even at eps {curve[-1].eps:g} (half the data's "
                "range or more): the attack is broken or the gradients are masked",
            )
        )
    return tuple(out)


def evaluate(
    target: Target,
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    eps: tuple[float, ...] | list[float],
    spec: AttackSpec | None = None,
    certify_spec: CertifySpec | None = None,
    cross_check: int = CROSS_CHECK_SAMPLES,
) -> EvaluationReport:
    """Run ``spec`` at every epsilon of ``eps`` against ``target`` on ``(x, y)``.

    ``cross_check``: for a gradient attack (L-inf) on a target that gives scores, also run
    the score-based Square attack on up to this many of the attacked inputs at the largest
    eps (0: not at all); a black-box attack that beats the white-box one means the
    gradients mislead (the ``black_box_vs_white_box`` validity check)."""
    if isinstance(cross_check, bool) or not 0 <= cross_check <= MAX_CROSS_CHECK:
        raise RobustnessError(f"cross_check must lie in 0..{MAX_CROSS_CHECK}")
    spec = spec or AttackSpec()
    eps_t = tuple(float(e) for e in eps)
    xs, ys = prepare_data(target, x, y)
    _check_spec(target, xs, eps_t, spec)
    if spec.eot is not None and not 1 <= spec.eot <= MAX_EOT:
        raise RobustnessError(f"eot must lie in 1..{MAX_EOT}")
    t0 = time.process_time()
    same = _is_deterministic(target, xs)
    if not same and spec.eot is None and spec.name in ("fgsm", "pgd"):
        spec = replace(spec, eot=EOT_SAMPLES)
    n = len(xs)
    correct = target.predict_labels(xs) == ys
    clean = float(correct.mean())
    idx = np.flatnonzero(correct)
    curve: list[CurvePoint] = []
    outcomes: list[AttackOutcome] = []
    robust_masks: list[NDArray[np.bool_]] = []
    first_fool = np.full(n, np.nan)
    grads, queries = 0, n
    for e in eps_t:
        if idx.size:
            o = run_attack(target, xs[idx], ys[idx], e, spec)
        else:
            o = AttackOutcome(xs[:0], np.zeros(0, bool), np.zeros(0), 0, 0, 0.0, 0.0)
        grads += o.gradient_evaluations
        queries += o.queries + len(idx)
        fooled = o.fooled
        outcomes.append(o)
        robust_masks.append(~fooled)
        newly = idx[fooled & np.isnan(first_fool[idx])]
        first_fool[newly] = o.perturbation[np.isin(idx, newly)]
        curve.append(
            CurvePoint(
                eps=e,
                accuracy=float((~fooled).sum()) / n,
                success_rate=float(fooled.mean()) if fooled.size else 0.0,
                mean_perturbation=float(o.perturbation.mean()) if o.perturbation.size else 0.0,
                max_perturbation=float(o.perturbation.max()) if o.perturbation.size else 0.0,
            )
        )
    c = spec.constraints
    d = int(math.prod(xs.shape[1:]))
    top = spec.clip_max - spec.clip_min
    if c is not None and (c.scale is not None or c.lower is not None or c.upper is not None):
        top = math.inf  # per-feature units: no one data range to compare with
    elif spec.norm is Norm.L2:
        top *= math.sqrt(d)
    validity = _validity(target, xs, spec, clean, curve, outcomes, robust_masks, n, top, same)
    if (
        cross_check
        and spec.name in ("fgsm", "pgd")
        and spec.norm is Norm.LINF
        and Capability.PROBABILITIES in target.capabilities
        and idx.size
    ):
        k = min(cross_check, idx.size)
        bb_spec = replace(spec, name="square", queries=CROSS_CHECK_QUERIES)
        bb = run_attack(target, xs[idx[:k]], ys[idx[:k]], eps_t[-1], bb_spec)
        queries += bb.queries
        white = float(outcomes[-1].fooled[:k].mean())
        black = float(bb.fooled.mean())
        tol_k = max(2.0 / k, 0.02)
        validity = (
            *validity,
            ValidityResult(
                "black_box_vs_white_box",
                black <= white + tol_k,
                f"at eps {eps_t[-1]:g} on {k} inputs the Square attack ({CROSS_CHECK_QUERIES} "
                f"queries) fools {black:.0%}, {spec.name} {white:.0%}"
                + (
                    ""
                    if black <= white + tol_k
                    else ": a black-box attack beats the white-box one, so the gradients "
                    "mislead (masking or obfuscation); the white-box figure overstates "
                    "robustness"
                ),
            ),
        )
    fooled_any = first_fool[~np.isnan(first_fool)]
    cert = None
    if certify_spec is not None:
        cs = certify_spec
        cert = certify(
            target, xs, ys, sigma=cs.sigma, n0=cs.n0, n=cs.n, alpha=cs.alpha, seed=spec.seed
        )
    return EvaluationReport(
        attack=spec.name,
        spec=spec,
        target_kind=target.kind,
        capabilities=tuple(sorted(c.value for c in target.capabilities)),
        samples=n,
        clean_accuracy=clean,
        curve=tuple(curve),
        attack_success_rate=curve[-1].success_rate,
        mean_minimal_perturbation=float(fooled_any.mean()) if fooled_any.size else None,
        validity=validity,
        cpu_seconds=time.process_time() - t0,
        gradient_evaluations=grads,
        queries=queries,
        certification=cert,
        certify_spec=certify_spec,
    )
