"""`bastion redteam compare`: the defenses side by side on the same model, data and attacks.

Every defense starts from the same trained PyTorch module and is attacked on the same
evaluation inputs at the same budgets: the attacks asked for (PGD, FGSM, Square) against
the defended target as it presents itself, an *adaptive* attack where the defense hides
or randomizes its gradient (BPDA through purification, expectation over transformation
through randomization, PGD on the distilled student's logits divided by T), and PGD
examples *transferred* from the undefended model. The worst case over all of them is the
defense's robust accuracy. Each row states its cost: CPU-seconds to build, to attack, and
per 1,000 predictions. The recommendation picks, for each use case, the defense with the
best worst-case robust accuracy among those within the use case's clean-accuracy and
latency limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.robustness._attacks import run_attack
from bastion.robustness._defenses import (
    TrainSpec,
    adversarial_training,
    distilled,
    pruned,
    purified,
    randomized,
    train_classifier,
)
from bastion.robustness._detect import MedianSmoothing
from bastion.robustness._evaluate import eps_key, prepare_data
from bastion.robustness._targets import TorchTarget
from bastion.robustness.interface import ATTACKS, AttackSpec, Capability, RobustnessError, Target

if TYPE_CHECKING:
    from bastion.core.types import Evidence
    from bastion.core.workspace import Workspace

__all__ = [
    "DEFENSES",
    "USE_CASES",
    "CompareSpec",
    "DefenseComparison",
    "DefenseRow",
    "UseCase",
    "compare_defenses",
    "compare_from_files",
    "compare_model_file",
    "compare_wrappers",
    "comparison_verdict",
    "mlp",
    "record_comparison",
]

DEFENSES = (
    "none",
    "adversarial_training",
    "purification",
    "randomization",
    "distillation",
    "pruning",
)
MAX_SAMPLES = 10_000
#: CPU-seconds per 1,000 predictions below which a latency ratio means nothing (10 us per
#: prediction): a defense within the use case's ratio of this floor is fast enough.
LATENCY_FLOOR = 0.01


@dataclass(frozen=True)
class UseCase:
    """Limits a defense must keep to be recommended for a use case."""

    name: str
    max_clean_drop: float  # clean-accuracy points (0.03: 3 points) it may cost
    max_latency_ratio: float  # prediction cost relative to the undefended model
    description: str


USE_CASES = {
    u.name: u
    for u in (
        UseCase(
            "balanced", 0.03, 10.0, "robustness within 3 points of clean accuracy, <= 10x latency"
        ),
        UseCase(
            "high_assurance", 0.10, math.inf, "the most robust, up to 10 points of clean accuracy"
        ),
        UseCase("accuracy_first", 0.01, 10.0, "at most 1 point of clean accuracy"),
        UseCase("low_latency", 0.03, 1.5, "at most 1.5x the prediction cost, 3 points of accuracy"),
    )
}


@dataclass(frozen=True)
class CompareSpec:
    eps: tuple[float, ...] = (0.1,)
    attacks: tuple[str, ...] = ("pgd",)
    defenses: tuple[str, ...] = DEFENSES
    steps: int = 20  # PGD / FGSM steps of the evaluation attacks
    queries: int = 300  # Square attack queries per input
    eot: int = 16  # draws of the expectation-over-transformation attack
    train: TrainSpec = field(default_factory=TrainSpec)
    at_steps: int = 7  # PGD steps inside adversarial training
    at_eps: float | None = None  # None: the largest evaluation eps
    sigma: float = 0.1  # randomization noise
    temperature: float = 20.0  # distillation
    prune_amount: float = 0.5
    image_shape: tuple[int, ...] | None = None  # purification's squeezers
    clip_min: float = 0.0
    clip_max: float = 1.0
    seed: int = 0
    use_case: str = "balanced"

    def validate(self) -> None:
        unknown = [d for d in self.defenses if d not in DEFENSES]
        if unknown or not self.defenses:
            raise RobustnessError(
                f"unknown defense {', '.join(unknown)[:80]!r} (known: {', '.join(DEFENSES)})"
            )
        bad = [a for a in self.attacks if a not in ATTACKS or a == "hopskipjump"]
        if bad or not self.attacks:
            raise RobustnessError(
                f"compare runs fgsm, pgd or square, not {', '.join(bad)[:80] or 'nothing'}"
            )
        if self.use_case not in USE_CASES:
            raise RobustnessError(
                f"unknown use case {self.use_case[:40]!r} (known: {', '.join(USE_CASES)})"
            )
        if not self.eps or list(self.eps) != sorted(set(self.eps)) or len(self.eps) > 8:
            raise RobustnessError("eps: give 1-8 distinct values in increasing order")
        span = self.clip_max - self.clip_min
        if not span > 0 or any(not (math.isfinite(e) and 0 < e <= span) for e in self.eps):
            raise RobustnessError(f"eps must lie in (0, {span:g}] (the clip range)")
        if not 1 <= self.steps <= 1000 or not 1 <= self.queries <= 10_000:
            raise RobustnessError("steps must lie in 1..1000 and queries in 1..10000")
        if not 1 <= self.eot <= 256 or not 1 <= self.at_steps <= 100:
            raise RobustnessError("eot must lie in 1..256 and at_steps in 1..100")
        if not (math.isfinite(self.sigma) and 0 < self.sigma <= span):
            raise RobustnessError(f"sigma must lie in (0, {span:g}]")
        if not (math.isfinite(self.temperature) and 1 <= self.temperature <= 1000):
            raise RobustnessError("temperature must lie in [1, 1000]")
        if not 0 < self.prune_amount < 1:
            raise RobustnessError("prune_amount must lie in (0, 1)")
        if self.at_eps is not None and not (math.isfinite(self.at_eps) and 0 < self.at_eps <= span):
            raise RobustnessError(f"at_eps must lie in (0, {span:g}]")
        self.train.validate()


@dataclass(frozen=True)
class DefenseRow:
    defense: str
    clean_accuracy: float
    robust: dict[str, dict[str, float]]  # attack label -> eps key -> accuracy
    worst_case: dict[str, float]  # eps key -> the smallest accuracy over the attacks
    build_cpu_seconds: float
    attack_cpu_seconds: float
    predict_cpu_seconds_per_1000: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "defense": self.defense,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust,
            "worst_case": self.worst_case,
            "cost": {
                "build_cpu_seconds": round(self.build_cpu_seconds, 4),
                "attack_cpu_seconds": round(self.attack_cpu_seconds, 4),
                "predict_cpu_seconds_per_1000": round(self.predict_cpu_seconds_per_1000, 5),
            },
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DefenseComparison:
    spec: CompareSpec
    model_type: str
    samples: int
    rows: tuple[DefenseRow, ...]
    recommendations: dict[str, dict[str, Any]]
    cpu_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headline_eps(self) -> str:
        return eps_key(self.spec.eps[-1])

    @property
    def recommendation(self) -> dict[str, Any]:
        return self.recommendations[self.spec.use_case]

    def row(self, defense: str) -> DefenseRow:
        for r in self.rows:
            if r.defense == defense:
                return r
        raise KeyError(defense)

    def to_data(self) -> dict[str, Any]:
        s = self.spec
        return {
            "model_type": self.model_type,
            "samples": self.samples,
            "eps": list(s.eps),
            "attacks": list(s.attacks),
            "defenses": [r.to_dict() for r in self.rows],
            "use_case": s.use_case,
            "recommendation": self.recommendation,
            "recommendations": self.recommendations,
            "parameters": {
                "steps": s.steps,
                "queries": s.queries,
                "eot": s.eot,
                "epochs": s.train.epochs,
                "at_steps": s.at_steps,
                "at_eps": s.at_eps or s.eps[-1],
                "sigma": s.sigma,
                "temperature": s.temperature,
                "prune_amount": s.prune_amount,
                "seed": s.seed,
            },
            "cost": {"cpu_seconds": round(self.cpu_seconds, 4)},
        }

    def chart_svg(self) -> str:
        from matplotlib.figure import Figure

        from bastion.core.charts import render_svg

        key = self.headline_eps
        names = [r.defense for r in self.rows]
        pos = np.arange(len(names))
        fig = Figure(figsize=(7, 3.6))
        ax = fig.add_subplot()
        ax.bar(pos - 0.2, [r.clean_accuracy for r in self.rows], 0.4, color="#1f4e79")
        ax.bar(pos + 0.2, [r.worst_case[key] for r in self.rows], 0.4, color="#b03a2e")
        ax.set_xticks(pos, [n.replace("_", "\n") for n in names], fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.legend(["clean accuracy", f"worst-case robust accuracy (eps {self.spec.eps[-1]:g})"],
                  fontsize=8, loc="lower right")  # fmt: skip
        ax.set_title(f"Defenses compared ({', '.join(self.spec.attacks)} + adaptive + transfer)")
        ax.grid(True, axis="y", alpha=0.3)
        return render_svg(fig, "bastion-robustness")


def mlp(
    n_inputs: int, n_classes: int, hidden: tuple[int, ...] = (64,), seed: int = 0
) -> torch.nn.Sequential:
    """A ReLU multilayer perceptron (the architecture ``bastion redteam compare`` trains)."""
    if not 1 <= len(hidden) <= 8 or any(not 1 <= h <= 4096 for h in hidden):
        raise RobustnessError("hidden: 1-8 layer sizes in 1..4096")
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = n_inputs
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, n_classes))
    return torch.nn.Sequential(*layers)


def _predict_cost(target: Target, x: NDArray[np.float32]) -> float:
    """CPU-seconds per 1,000 predictions, one thread, the best of five passes (CPU time
    of several threads counts their spinning too)."""
    from bastion.robustness._defenses import _one_thread

    best = math.inf
    with _one_thread():
        for _ in range(5):
            t0 = time.process_time()
            target.predict_labels(x)
            best = min(best, time.process_time() - t0)
    return best * 1000.0 / max(1, len(x))


def _accuracy(
    target: Target, x: NDArray[np.float32], y: NDArray[np.int64], clean: NDArray[np.bool_]
) -> float:
    return float((clean & (target.predict_labels(x) == y)).mean())


def _rows_for(
    name: str,
    target: Target,
    build: float,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    transfer: dict[str, NDArray[np.float32]],
    spec: CompareSpec,
) -> DefenseRow:
    clean = target.predict_labels(x) == y
    robust: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    spent = 0.0
    views: list[tuple[str, str, Target]] = []
    for a in spec.attacks:
        if ATTACKS[a] <= set(target.capabilities):
            views.append((a, a, target))
        else:
            notes.append(
                f"{a} skipped: the defended target does not give {', '.join(sorted(ATTACKS[a]))}"
            )
    adaptive: Callable[[], Target] | None = getattr(target, "adaptive", None)
    if adaptive is not None and Capability.GRADIENTS in target.capabilities:
        label = {
            "purification": "adaptive_bpda",
            "randomization": "adaptive_eot",
            "distillation": "adaptive_temperature",
        }.get(name, "adaptive")
        view: Any = adaptive()
        if name == "randomization":
            view = target.adaptive(spec.eot)  # type: ignore[attr-defined]
        views.append((label, "pgd", view))
    zero_share = 0.0
    for label, attack, view in views:
        robust[label] = {}
        for e in spec.eps:
            o = run_attack(
                view,
                x,
                y,
                e,
                AttackSpec(
                    attack,
                    steps=spec.steps,
                    queries=spec.queries,
                    seed=spec.seed,
                    clip_min=spec.clip_min,
                    clip_max=spec.clip_max,
                ),
            )
            spent += o.cpu_seconds
            if label == "pgd":
                zero_share = max(zero_share, o.zero_gradient_share)
            robust[label][eps_key(e)] = _accuracy(target, o.x_adv, y, clean)
    if transfer:
        robust["transfer"] = {k: _accuracy(target, v, y, clean) for k, v in transfer.items()}
    keys = [eps_key(e) for e in spec.eps]
    worst = {k: min(r[k] for r in robust.values()) for k in keys}
    if zero_share > 0.1:
        notes.append(
            f"{zero_share:.0%} of the inputs give PGD an exactly zero gradient: gradient masking"
        )
    top = keys[-1]
    for label in ("pgd", "fgsm", "square"):
        if label in robust and robust[label][top] > worst[top] + 0.1:
            weakest = min(robust, key=lambda k: robust[k][top])
            notes.append(
                f"{label} overstates robustness: {robust[label][top]:.3f} against {weakest} "
                f"{worst[top]:.3f} (obfuscated gradients; trust the worst case)"
            )
    if Capability.PROBABILITIES in target.capabilities and name == "randomization":
        notes.append("random forward pass: every query answers differently")
    return DefenseRow(
        defense=name,
        clean_accuracy=float(clean.mean()),
        robust=robust,
        worst_case=worst,
        build_cpu_seconds=build,
        attack_cpu_seconds=spent,
        predict_cpu_seconds_per_1000=_predict_cost(target, x),
        notes=tuple(notes),
    )


def _recommend(rows: tuple[DefenseRow, ...], key: str) -> dict[str, dict[str, Any]]:
    base = next(r for r in rows if r.defense == "none")
    out: dict[str, dict[str, Any]] = {}
    for use in USE_CASES.values():
        ok = [
            r
            for r in rows
            if r.clean_accuracy >= base.clean_accuracy - use.max_clean_drop
            and r.predict_cpu_seconds_per_1000
            <= use.max_latency_ratio * max(base.predict_cpu_seconds_per_1000, LATENCY_FLOOR)
        ]
        ranked = sorted(ok, key=lambda r: (-r.worst_case[key], r.build_cpu_seconds))
        excluded = sorted({r.defense for r in rows} - {r.defense for r in ok})
        best = ranked[0] if ranked else base
        if best.defense == "none" or best.worst_case[key] < base.worst_case[key] + 0.02:
            choice, reason = (
                "none",
                f"no defense within the limits ({use.description}) raises the worst-case "
                f"robust accuracy by 2 points or more over {base.worst_case[key]:.3f}",
            )
        else:
            choice = best.defense
            reason = (
                f"{best.defense}: worst-case robust accuracy {best.worst_case[key]:.3f} "
                f"(undefended {base.worst_case[key]:.3f}) at clean accuracy "
                f"{best.clean_accuracy:.3f} ({best.clean_accuracy - base.clean_accuracy:+.3f}), "
                f"{best.build_cpu_seconds:.2f} CPU-s to build"
            )
        out[use.name] = {
            "use_case": use.name,
            "defense": choice,
            "reason": reason,
            "ranking": [r.defense for r in ranked],
            "excluded": excluded,
            "limits": {
                "max_clean_drop": use.max_clean_drop,
                "max_latency_ratio": None
                if math.isinf(use.max_latency_ratio)
                else use.max_latency_ratio,
            },
        }
    return out


def compare_defenses(
    module: torch.nn.Module,
    x_train: NDArray[Any],
    y_train: NDArray[Any],
    x_eval: NDArray[Any],
    y_eval: NDArray[Any],
    *,
    input_shape: tuple[int, ...],
    spec: CompareSpec = CompareSpec(),
    progress: Callable[[str], None] | None = None,
) -> DefenseComparison:
    """Build each defense of ``spec.defenses`` from ``module`` (trained; never changed) on
    ``(x_train, y_train)`` and attack it on ``(x_eval, y_eval)``. ``progress`` is told
    each defense's name as it starts."""
    spec.validate()
    t0 = time.process_time()
    base = TorchTarget(module, input_shape)
    xs, ys = _eval_data(base, x_eval, y_eval, spec)
    lo, hi = spec.clip_min, spec.clip_max
    xt = np.asarray(x_train, dtype=np.float32)
    if xt.size == 0 or xt.size != len(xt) * math.prod(input_shape):
        raise RobustnessError("training data: inputs do not match the model's input shape")
    squeezers = None
    at_eps = spec.at_eps or spec.eps[-1]
    builders: dict[str, Callable[[], Target]] = {
        "none": lambda: base,
        "adversarial_training": lambda: adversarial_training(
            module,
            xt,
            y_train,
            input_shape=input_shape,
            eps=at_eps,
            steps=spec.at_steps,
            clip_min=lo,
            clip_max=hi,
            spec=spec.train,
        ),
        "purification": lambda: purified(
            base, squeezers, image_shape=spec.image_shape, clip_min=lo, clip_max=hi
        ),
        "randomization": lambda: randomized(
            base, spec.sigma, clip_min=lo, clip_max=hi, seed=spec.seed
        ),
        "distillation": lambda: distilled(
            module,
            xt,
            y_train,
            input_shape=input_shape,
            temperature=spec.temperature,
            spec=spec.train,
        ),
        "pruning": lambda: pruned(
            module,
            input_shape=input_shape,
            amount=spec.prune_amount,
            x=xt,
            y=y_train,
            spec=TrainSpec(
                max(1, spec.train.epochs // 4),
                spec.train.lr,
                spec.train.batch_size,
                spec.train.seed,
            ),
        ),
    }
    return _run(base, builders, xs, ys, spec, t0, MODEL_TYPES["pytorch"], progress)


MODEL_TYPES = {
    "pytorch": "pytorch (differentiable, trainable: every defense applies)",
    "differentiable": "differentiable model file (gradients, not trainable here: purification "
    "and randomization apply; the training defenses need the training pipeline)",
    "black-box": "model file without gradients (scores or labels only: purification and "
    "randomization apply, attacked by score-based attacks; no adaptive gradient attack)",
}
WRAPPERS = ("none", "purification", "randomization")


def _eval_data(
    base: Target, x_eval: NDArray[Any], y_eval: NDArray[Any], spec: CompareSpec
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    xs, ys = prepare_data(base, x_eval, y_eval)
    if len(xs) > MAX_SAMPLES:
        raise RobustnessError(f"data: at most {MAX_SAMPLES} evaluation inputs (use --samples)")
    lo, hi = spec.clip_min, spec.clip_max
    if (xs < lo - 1e-6).any() or (xs > hi + 1e-6).any():
        raise RobustnessError(f"data: values outside the clip range [{lo:g}, {hi:g}]")
    if spec.image_shape is not None:
        MedianSmoothing(2, spec.image_shape)  # validates the shape before any work
        if math.prod(spec.image_shape) != math.prod(base.input_shape):
            raise RobustnessError(
                f"image_shape {spec.image_shape} does not hold the input shape "
                f"{tuple(base.input_shape)}"
            )
    return xs, ys


def _run(
    base: Target,
    builders: dict[str, Callable[[], Target]],
    xs: NDArray[np.float32],
    ys: NDArray[np.int64],
    spec: CompareSpec,
    t0: float,
    model_type: str,
    progress: Callable[[str], None] | None,
) -> DefenseComparison:
    lo, hi = spec.clip_min, spec.clip_max
    # PGD examples against the undefended model, reused against every defense.
    transfer: dict[str, NDArray[np.float32]] = {}
    for e in spec.eps if Capability.GRADIENTS in base.capabilities else ():
        o = run_attack(
            base,
            xs,
            ys,
            e,
            AttackSpec("pgd", steps=spec.steps, seed=spec.seed, clip_min=lo, clip_max=hi),
        )
        transfer[eps_key(e)] = o.x_adv
    from bastion.robustness._defenses import _one_thread

    names = ("none", *(d for d in spec.defenses if d != "none"))
    rows: list[DefenseRow] = []
    with _one_thread():  # CPU-seconds comparable across defenses and machines
        for name in names:
            if progress is not None:
                progress(name)
            b0 = time.process_time()
            target = builders[name]()
            build = time.process_time() - b0
            rows.append(
                _rows_for(name, target, build, xs, ys, transfer if name != "none" else {}, spec)
            )
    out = tuple(rows)
    return DefenseComparison(
        spec=spec,
        model_type=model_type,
        samples=len(xs),
        rows=out,
        recommendations=_recommend(out, eps_key(spec.eps[-1])),
        cpu_seconds=time.process_time() - t0,
    )


def compare_wrappers(
    target: Target,
    x_eval: NDArray[Any],
    y_eval: NDArray[Any],
    *,
    spec: CompareSpec = CompareSpec(defenses=WRAPPERS),
    progress: Callable[[str], None] | None = None,
) -> DefenseComparison:
    """The defenses that wrap a model (purification, randomization) compared on any
    target, a model file loaded through the safe path say. A training defense in
    ``spec.defenses`` is refused: it needs the model's training pipeline."""
    spec.validate()
    training = [d for d in spec.defenses if d not in WRAPPERS]
    if training:
        raise RobustnessError(
            f"{', '.join(training)} needs a trainable PyTorch model; on this {target.kind} "
            "target only purification and randomization apply"
        )
    if not any(ATTACKS[a] <= set(target.capabilities) for a in spec.attacks):
        raise RobustnessError(
            f"none of {', '.join(spec.attacks)} runs on this {target.kind} target (it gives "
            f"{', '.join(sorted(c.value for c in target.capabilities))}): try --attacks square"
        )
    t0 = time.process_time()
    xs, ys = _eval_data(target, x_eval, y_eval, spec)
    lo, hi = spec.clip_min, spec.clip_max
    builders: dict[str, Callable[[], Target]] = {
        "none": lambda: target,
        "purification": lambda: purified(
            target, None, image_shape=spec.image_shape, clip_min=lo, clip_max=hi
        ),
        "randomization": lambda: randomized(
            target, spec.sigma, clip_min=lo, clip_max=hi, seed=spec.seed
        ),
    }
    kind = "differentiable" if Capability.GRADIENTS in target.capabilities else "black-box"
    return _run(target, builders, xs, ys, spec, t0, MODEL_TYPES[kind], progress)


def compare_from_files(
    train: Path,
    data: Path,
    *,
    label: str = "label",
    hidden: tuple[int, ...] = (64,),
    samples: int | None = None,
    spec: CompareSpec = CompareSpec(),
    progress: Callable[[str], None] | None = None,
) -> tuple[DefenseComparison, str, str]:
    """Train the baseline MLP (``hidden`` layers, ``spec.train``) on the ``train`` file
    and compare the defenses on the ``data`` file: (comparison, train digest, data
    digest). A PyTorch module has no safe file format, so the command trains the model
    from an architecture it declares, never from code in a file."""
    from bastion.robustness._data import load_dataset

    spec.validate()
    if samples is not None and not 1 <= samples <= MAX_SAMPLES:
        raise RobustnessError(f"samples must lie in 1..{MAX_SAMPLES}")
    tr = load_dataset(train, label=label)
    ev = load_dataset(data, label=label)
    if not np.all(np.equal(np.mod(tr.y, 1), 0)) or tr.y.min() < 0:
        raise RobustnessError(f"{train}: labels must be class indices (whole numbers from 0)")
    n_classes = max(2, int(tr.y.max()) + 1)
    if n_classes > 1000:
        raise RobustnessError(f"{train}: more than 1000 classes")
    shape = tuple(int(d) for d in tr.x.shape[1:])
    if tuple(ev.x.shape[1:]) != shape:
        raise RobustnessError(
            f"{data}: inputs of shape {tuple(ev.x.shape[1:])}, the training data's are {shape}"
        )
    for path, ds in ((train, tr), (data, ev)):
        if (ds.x < spec.clip_min - 1e-6).any() or (ds.x > spec.clip_max + 1e-6).any():
            raise RobustnessError(
                f"{path}: values outside the clip range [{spec.clip_min:g}, {spec.clip_max:g}]"
            )
    x_eval, y_eval = (ev.x, ev.y) if samples is None else (ev.x[:samples], ev.y[:samples])
    module = mlp(math.prod(shape), n_classes, hidden, seed=spec.seed)
    module = torch.nn.Sequential(torch.nn.Flatten(), *module) if len(shape) > 1 else module
    if progress is not None:
        progress("training the baseline")
    train_classifier(module, tr.x, tr.y, input_shape=shape, spec=spec.train)
    comparison = compare_defenses(
        module, tr.x, tr.y, x_eval, y_eval, input_shape=shape, spec=spec, progress=progress
    )
    return comparison, tr.digest, ev.digest


def compare_model_file(
    model: Path,
    data: Path,
    *,
    label: str = "label",
    samples: int | None = None,
    spec: CompareSpec = CompareSpec(defenses=WRAPPERS),
    progress: Callable[[str], None] | None = None,
) -> tuple[DefenseComparison, str, str]:
    """:func:`compare_wrappers` on a model file loaded only if the integrity scanner calls
    it safe: (comparison, model digest, data digest)."""
    from bastion.robustness._data import load_dataset
    from bastion.robustness._targets import load_target

    spec.validate()
    if samples is not None and not 1 <= samples <= MAX_SAMPLES:
        raise RobustnessError(f"samples must lie in 1..{MAX_SAMPLES}")
    training = [d for d in spec.defenses if d not in WRAPPERS]
    if training:
        raise RobustnessError(
            f"{', '.join(training)} needs a trainable PyTorch model (use --train); on a "
            "model file only purification and randomization apply"
        )
    ev = load_dataset(data, label=label)
    loaded = load_target(model)
    x, y = (ev.x, ev.y) if samples is None else (ev.x[:samples], ev.y[:samples])
    comparison = compare_wrappers(loaded.target, x, y, spec=spec, progress=progress)
    return comparison, loaded.digest, ev.digest


def comparison_verdict(
    comparison: DefenseComparison, min_accuracy: float | None
) -> tuple[Verdict, tuple[Finding, ...]]:
    """``fail`` when the recommended defense's worst case is below ``min_accuracy``,
    ``pass`` otherwise; a finding for each defense a naive attack overstates."""
    findings = [
        Finding(
            rule_id="robustness.defenses.obfuscated_gradients",
            title=f"{r.defense}: a naive attack overstates its robustness",
            severity=Severity.MEDIUM,
            message=note,
            references=("AML.T0043",),
            remediation="judge the defense by its worst case (adaptive attacks included)",
        )
        for r in comparison.rows
        for note in r.notes
        if "overstates" in note
    ]
    rec = comparison.recommendation
    worst = comparison.row(rec["defense"]).worst_case[comparison.headline_eps]
    if min_accuracy is not None and worst < min_accuracy:
        findings.append(
            Finding(
                rule_id="robustness.defenses.below_threshold",
                title="no defense reaches the required worst-case robust accuracy",
                severity=Severity.HIGH,
                message=f"the recommended {rec['defense']} reaches {worst:.3f} < "
                f"{min_accuracy:.3f} at eps {comparison.spec.eps[-1]:g}",
                references=("AML.T0043",),
                remediation="a larger adversarial-training budget, a more robust architecture",
            )
        )
        return Verdict.FAIL, tuple(findings)
    return Verdict.PASS, tuple(findings)


def record_comparison(
    ws: Workspace,
    comparison: DefenseComparison,
    subject: Subject,
    *,
    min_accuracy: float | None = None,
    train_digest: str | None = None,
    data_digest: str | None = None,
    actor: str = "system",
) -> Evidence:
    """Record the comparison as ``robustness.defenses`` evidence."""
    from bastion.core.checks import record_evidence
    from bastion.robustness._checks import DefensesCheck

    if min_accuracy is not None and not (math.isfinite(min_accuracy) and 0 <= min_accuracy <= 1):
        raise RobustnessError("min_accuracy must lie in [0, 1]")
    verdict, findings = comparison_verdict(comparison, min_accuracy)
    data = comparison.to_data()
    data["worst_case_by_defense"] = {r.defense: r.worst_case for r in comparison.rows}
    data["clean_accuracy_by_defense"] = {r.defense: r.clean_accuracy for r in comparison.rows}
    data |= {"min_accuracy": min_accuracy, "train_digest": train_digest, "data_digest": data_digest}
    return record_evidence(
        ws, DefensesCheck, subject, verdict=verdict, data=data, findings=findings, actor=actor
    )
