"""Inference-time detection of adversarial inputs by feature squeezing (Xu, Evans and Qi,
NDSS 2018).

A *squeezer* maps an input to a coarser one that keeps what a benign input means: fewer
bits per value, a median filter over neighbouring pixels, tabular values rounded or
binned. A benign input gives almost the same probability vector before and after; an
adversarial one, whose effect lives in the fine detail, often does not. The score of an
input is the largest L1 distance between the model's probability vector on the input and
on each squeezed copy; the threshold is calibrated on benign data for a target false
positive rate.

One input costs one ``predict_proba`` call on ``1 + len(squeezers)`` rows (the input and
its squeezed copies stacked), so the guard can call :meth:`FeatureSqueezingDetector.score`
per request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from bastion.robustness.interface import Capability, RobustnessError, Target

if TYPE_CHECKING:
    from bastion.core.types import Evidence, Finding, Subject, Verdict
    from bastion.core.workspace import Workspace

__all__ = [
    "Binning",
    "BitDepth",
    "DetectorCalibration",
    "DetectorEvaluation",
    "FeatureSqueezingDetector",
    "MedianSmoothing",
    "Rounding",
    "Squeezer",
    "default_squeezers",
    "detector_from_files",
    "detector_verdict",
    "evaluate_detector",
    "record_detector",
    "squeezer_from_config",
]

MAX_ROWS = 100_000
MIN_CALIBRATION = 20


@runtime_checkable
class Squeezer(Protocol):
    """A deterministic map from a batch ``(n, *input_shape)`` to a squeezed batch."""

    name: str

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]: ...


class BitDepth:
    """Reduce each value to ``bits`` bits over ``[clip_min, clip_max]`` (Xu et al.: 1 bit
    for MNIST, 4-5 bits for colour images)."""

    def __init__(self, bits: int, clip_min: float = 0.0, clip_max: float = 1.0) -> None:
        if isinstance(bits, bool) or not 1 <= int(bits) <= 16:
            raise RobustnessError("bit depth: bits must lie in 1..16")
        if not (math.isfinite(clip_min) and math.isfinite(clip_max) and clip_min < clip_max):
            raise RobustnessError("bit depth: expected finite clip_min < clip_max")
        self.bits, self.clip_min, self.clip_max = int(bits), float(clip_min), float(clip_max)
        self.name = f"bit_depth_{self.bits}"

    def config(self) -> dict[str, Any]:
        return {"kind": "bit_depth", "bits": self.bits, "clip_min": self.clip_min,
                "clip_max": self.clip_max}  # fmt: skip

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        levels = 2**self.bits - 1
        span = self.clip_max - self.clip_min
        u = np.clip((x - self.clip_min) / span, 0.0, 1.0)
        out: NDArray[np.float32] = (np.round(u * levels) / levels * span + self.clip_min).astype(
            np.float32
        )
        return out


class MedianSmoothing:
    """A ``size`` x ``size`` median filter over the two spatial axes of each image.

    ``image_shape``: how one input is laid out, ``(h, w)`` or ``(c, h, w)``; a flat input
    (the digits' 64 values) is reshaped to it and back."""

    def __init__(self, size: int = 2, image_shape: tuple[int, ...] | None = None) -> None:
        if isinstance(size, bool) or not 2 <= int(size) <= 9:
            raise RobustnessError("median smoothing: size must lie in 2..9")
        if image_shape is not None and (
            len(image_shape) not in (2, 3) or any(int(d) < 1 for d in image_shape)
        ):
            raise RobustnessError("median smoothing: image_shape must be (h, w) or (c, h, w)")
        self.size = int(size)
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self.name = f"median_{self.size}x{self.size}"

    def config(self) -> dict[str, Any]:
        shape = None if self.image_shape is None else list(self.image_shape)
        return {"kind": "median", "size": self.size, "image_shape": shape}

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        from scipy.ndimage import median_filter  # type: ignore[import-untyped]

        shape = self.image_shape or tuple(x.shape[1:])
        if len(shape) not in (2, 3) or math.prod(shape) != math.prod(x.shape[1:]):
            raise RobustnessError(
                f"median smoothing: inputs of shape {tuple(x.shape[1:])} are not images "
                "(give image_shape)"
            )
        img = x.reshape((len(x), *shape))
        size = (1, self.size, self.size) if len(shape) == 2 else (1, 1, self.size, self.size)
        out: NDArray[np.float32] = (
            median_filter(img, size=size, mode="reflect").reshape(x.shape).astype(np.float32)
        )
        return out


class Rounding:
    """Round each tabular feature to a multiple of its ``step`` (one step for all, or one
    per feature); features with step 0 are left as they are."""

    def __init__(self, step: float | Sequence[float], name: str | None = None) -> None:
        steps = np.atleast_1d(np.asarray(step, dtype=np.float64))
        if steps.ndim != 1 or not np.isfinite(steps).all() or (steps < 0).any():
            raise RobustnessError("rounding: steps must be finite, non-negative numbers")
        if not (steps > 0).any():
            raise RobustnessError("rounding: at least one step must be positive")
        self.steps = steps
        self.name = name or (f"round_{float(steps[0]):g}" if steps.size == 1 else "round")

    def config(self) -> dict[str, Any]:
        return {"kind": "round", "step": [float(v) for v in self.steps]}

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        flat = x.reshape(len(x), -1).astype(np.float64)
        if self.steps.size not in (1, flat.shape[1]):
            raise RobustnessError(f"rounding: {self.steps.size} steps for {flat.shape[1]} features")
        steps = np.broadcast_to(self.steps, (flat.shape[1],))
        on = steps > 0
        safe = np.where(on, steps, 1.0)
        out = np.where(on, np.round(flat / safe) * safe, flat)
        return out.reshape(x.shape).astype(np.float32)


class Binning:
    """Replace each tabular feature by the middle of its quantile bin, the bins learned
    from benign data (``bins`` per feature)."""

    def __init__(self, reference: NDArray[Any], bins: int = 16) -> None:
        if isinstance(bins, bool) or not 2 <= int(bins) <= 1024:
            raise RobustnessError("binning: bins must lie in 2..1024")
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim < 2 or len(ref) < 2 or not np.isfinite(ref).all():
            raise RobustnessError("binning: give at least two finite reference rows")
        ref = ref.reshape(len(ref), -1)
        qs = np.linspace(0.0, 1.0, int(bins) + 1)
        self.edges = [np.unique(np.quantile(ref[:, j], qs)) for j in range(ref.shape[1])]
        self.bins = int(bins)
        self.name = f"bins_{self.bins}"

    @classmethod
    def from_edges(cls, edges: Sequence[Sequence[float]], bins: int) -> Binning:
        """Binning with learned edges (from :meth:`config`), without the reference data."""
        out = cls.__new__(cls)
        out.edges = [np.asarray(e, dtype=np.float64) for e in edges]
        if not out.edges or any(e.ndim != 1 or not np.isfinite(e).all() for e in out.edges):
            raise RobustnessError("binning: edges must be finite numbers, one list per feature")
        if any((np.diff(e) <= 0).any() for e in out.edges):
            raise RobustnessError("binning: each feature's edges must increase")
        out.bins, out.name = int(bins), f"bins_{int(bins)}"
        return out

    def config(self) -> dict[str, Any]:
        return {"kind": "bins", "bins": self.bins, "edges": [e.tolist() for e in self.edges]}

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        flat = x.reshape(len(x), -1).astype(np.float64)
        if flat.shape[1] != len(self.edges):
            raise RobustnessError(
                f"binning: learned {len(self.edges)} features, the input has {flat.shape[1]}"
            )
        out = flat.copy()
        for j, e in enumerate(self.edges):
            if e.size < 2:
                continue
            k = np.clip(np.searchsorted(e, flat[:, j], side="right") - 1, 0, e.size - 2)
            out[:, j] = (e[k] + e[k + 1]) / 2
        return out.reshape(x.shape).astype(np.float32)


MAX_CONFIG_FEATURES = 100_000


def squeezer_from_config(cfg: Mapping[str, Any]) -> Squeezer:
    """A squeezer from its :meth:`config` dict (``kind``: bit_depth, median, round, bins);
    ``RobustnessError`` naming what is wrong."""
    if not isinstance(cfg, Mapping):
        raise RobustnessError("a squeezer config must be a mapping with a kind")
    kind = cfg.get("kind")
    try:
        if kind == "bit_depth":
            return BitDepth(int(cfg["bits"]), float(cfg.get("clip_min", 0.0)),
                            float(cfg.get("clip_max", 1.0)))  # fmt: skip
        if kind == "median":
            shape = cfg.get("image_shape")
            return MedianSmoothing(int(cfg.get("size", 2)),
                                   None if shape is None else tuple(int(d) for d in shape))  # fmt: skip
        if kind == "round":
            step = cfg["step"]
            if isinstance(step, (list, tuple)) and len(step) > MAX_CONFIG_FEATURES:
                raise RobustnessError("rounding: too many steps")
            return Rounding(step)
        if kind == "bins":
            edges = cfg["edges"]
            if not isinstance(edges, (list, tuple)) or len(edges) > MAX_CONFIG_FEATURES:
                raise RobustnessError("binning: edges must be a list per feature")
            return Binning.from_edges(edges, int(cfg.get("bins", 16)))
    except (KeyError, TypeError, ValueError) as exc:
        raise RobustnessError(
            f"squeezer {str(kind)[:40]}: a missing or bad field ({type(exc).__name__})"
        ) from None
    raise RobustnessError(
        f"unknown squeezer kind {str(kind)[:40]!r} (bit_depth, median, round, bins)"
    )


def default_squeezers(
    input_shape: tuple[int, ...],
    *,
    image_shape: tuple[int, ...] | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
) -> tuple[Squeezer, ...]:
    """Xu et al.'s joint detector for images: 3-bit depth, plus a 2x2 median filter when the
    images are at least 16 x 16 (on smaller ones, the 8 x 8 digits, the filter changes
    benign predictions as much as adversarial ones); for tabular data, rounding to an
    eighth of the clip range."""
    shape = image_shape or (input_shape if len(input_shape) in (2, 3) else None)
    if shape is not None:
        bits = BitDepth(3, clip_min, clip_max)
        if min(shape[-2:]) >= 16:
            return (bits, MedianSmoothing(2, shape))
        return (bits,)
    return (Rounding((clip_max - clip_min) / 8.0),)


@dataclass(frozen=True)
class DetectorCalibration:
    """What :meth:`FeatureSqueezingDetector.fit` learned, to store beside a deployment."""

    threshold: float
    target_fpr: float
    calibration_fpr: float
    samples: int
    squeezers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "target_fpr": self.target_fpr,
            "calibration_fpr": self.calibration_fpr,
            "samples": self.samples,
            "squeezers": list(self.squeezers),
        }


class FeatureSqueezingDetector:
    """Feature-squeezing detection of adversarial inputs against a score-giving target.

    ``squeezers``: None for :func:`default_squeezers`. ``threshold``: a threshold from an
    earlier :meth:`fit` (else call :meth:`fit` before :meth:`is_adversarial`)."""

    def __init__(
        self,
        target: Target,
        squeezers: Sequence[Squeezer] | None = None,
        *,
        image_shape: tuple[int, ...] | None = None,
        clip_min: float = 0.0,
        clip_max: float = 1.0,
        threshold: float | None = None,
    ) -> None:
        if Capability.PROBABILITIES not in target.capabilities:
            raise RobustnessError(
                f"feature squeezing needs probabilities, which this {target.kind} target "
                "does not give"
            )
        self.target = target
        self.input_shape = tuple(target.input_shape)
        sq = (
            tuple(squeezers)
            if squeezers is not None
            else default_squeezers(
                self.input_shape, image_shape=image_shape, clip_min=clip_min, clip_max=clip_max
            )
        )
        if not sq or len(sq) > 16 or not all(isinstance(s, Squeezer) for s in sq):
            raise RobustnessError("give 1-16 squeezers")
        self.squeezers = sq
        if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
            raise RobustnessError("threshold must be a non-negative number")
        self.threshold = threshold
        self.calibration: DetectorCalibration | None = None

    def config(self) -> dict[str, Any]:
        """The squeezers and threshold, JSON-ready: store it beside the deployment and
        rebuild the detector with :meth:`from_config` (the target is not in it)."""
        cfgs = []
        for s in self.squeezers:
            get = getattr(s, "config", None)
            if not callable(get):
                raise RobustnessError(f"squeezer {s.name[:40]} has no config() to store")
            cfgs.append(get())
        return {
            "squeezers": cfgs,
            "threshold": self.threshold,
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }

    @classmethod
    def from_config(cls, target: Target, cfg: Mapping[str, Any]) -> FeatureSqueezingDetector:
        """The detector :meth:`config` describes, on ``target``."""
        if not isinstance(cfg, Mapping) or not isinstance(cfg.get("squeezers"), list):
            raise RobustnessError("detector config: expected a mapping with a squeezers list")
        if len(cfg["squeezers"]) > 16:
            raise RobustnessError("give 1-16 squeezers")
        threshold = cfg.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float))
        ):
            raise RobustnessError("detector config: threshold must be a number")
        return cls(
            target,
            [squeezer_from_config(c) for c in cfg["squeezers"]],
            threshold=None if threshold is None else float(threshold),
        )

    def _inputs(self, x: NDArray[Any]) -> NDArray[np.float32]:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.number):
            raise RobustnessError("detector: inputs must be numbers")
        size = math.prod(self.input_shape)
        if tuple(arr.shape) == self.input_shape or (arr.ndim == 1 and arr.size == size):
            arr = arr.reshape((1, *self.input_shape))  # one input
        elif tuple(arr.shape[1:]) != self.input_shape:
            if arr.ndim == 2 and arr.shape[1] == size:
                arr = arr.reshape((len(arr), *self.input_shape))
            else:
                raise RobustnessError(
                    f"detector: inputs of shape {tuple(arr.shape[1:])} do not match the "
                    f"model's input shape {self.input_shape}"
                )
        if len(arr) == 0 or len(arr) > MAX_ROWS:
            raise RobustnessError(f"detector: give 1-{MAX_ROWS} inputs")
        if not np.isfinite(arr).all():
            raise RobustnessError("detector: inputs must be finite numbers")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def score(self, x: NDArray[Any]) -> NDArray[np.float64]:
        """The squeezing score of each input (one input or a batch): the largest L1 distance
        between the probabilities on the input and on a squeezed copy, in [0, 2]."""
        xs = self._inputs(x)
        n = len(xs)
        stacked = np.concatenate([xs, *(s(xs).reshape(xs.shape) for s in self.squeezers)])
        p = np.asarray(self.target.predict_proba(stacked), dtype=np.float64)
        base = p[:n]
        dist = [
            np.abs(base - p[(i + 1) * n : (i + 2) * n]).sum(axis=1)
            for i in range(len(self.squeezers))
        ]
        out: NDArray[np.float64] = np.max(np.stack(dist), axis=0)
        return out

    def fit(self, benign_x: NDArray[Any], fpr: float = 0.05) -> DetectorCalibration:
        """Calibrate the threshold on benign inputs (held out from the model's training data)
        for a false positive rate of ``fpr``; returns what it learned."""
        if not (math.isfinite(fpr) and 0 < fpr < 0.5):
            raise RobustnessError("fpr must lie in (0, 0.5)")
        xs = self._inputs(benign_x)
        if len(xs) < max(MIN_CALIBRATION, math.ceil(1.0 / fpr)):
            raise RobustnessError(
                f"calibration needs at least {max(MIN_CALIBRATION, math.ceil(1.0 / fpr))} "
                f"benign inputs for an FPR of {fpr:g} (got {len(xs)})"
            )
        s = np.sort(self.score(xs))
        # Split-conformal: the ceil((n + 1)(1 - fpr))-th smallest benign score. On benign
        # inputs exchangeable with these, the expected false positive rate is at most fpr.
        m = min(len(s), math.ceil((len(s) + 1) * (1.0 - fpr)))
        threshold = float(s[m - 1])
        self.threshold = threshold
        self.calibration = DetectorCalibration(
            threshold=threshold,
            target_fpr=float(fpr),
            calibration_fpr=float((s > threshold).mean()),
            samples=len(s),
            squeezers=tuple(q.name for q in self.squeezers),
        )
        return self.calibration

    def is_adversarial(self, x: NDArray[Any]) -> NDArray[np.bool_]:
        """Whether each input scores above the calibrated threshold."""
        if self.threshold is None:
            raise RobustnessError("the detector has no threshold: call fit(benign_x) first")
        out: NDArray[np.bool_] = self.score(x) > self.threshold
        return out


# --- how well a calibrated detector detects: the evidence behind deploying it ------------


@dataclass(frozen=True)
class DetectorEvaluation:
    """A detector calibrated on benign inputs and measured on other benign inputs and on
    an attack's adversarial examples of them, at each eps."""

    calibration: DetectorCalibration
    attack: str
    eps: tuple[float, ...]
    samples: int
    benign_fpr: float  # on the evaluation inputs (not the calibration set)
    detection: dict[str, dict[str, float]]  # eps key -> auc, tpr, adversarial (count)
    microseconds_per_input: float
    cpu_seconds: float
    config: dict[str, Any]

    def to_data(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration.to_dict(),
            "attack": self.attack,
            "eps": list(self.eps),
            "samples": self.samples,
            "benign_fpr": self.benign_fpr,
            "detection": self.detection,
            "tpr_at": {k: v["tpr"] for k, v in self.detection.items()},
            "auc_at": {k: v["auc"] for k, v in self.detection.items()},
            "cost": {
                "cpu_seconds": round(self.cpu_seconds, 4),
                "microseconds_per_input": round(self.microseconds_per_input, 2),
            },
            "detector": self.config,
        }


def _auc(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> float:
    from scipy.stats import rankdata  # type: ignore[import-untyped]

    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate_detector(
    detector: FeatureSqueezingDetector,
    calibration_x: NDArray[Any],
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    eps: Sequence[float],
    spec: Any = None,
    fpr: float = 0.05,
) -> DetectorEvaluation:
    """Calibrate ``detector`` on ``calibration_x`` (benign, held out from training) for
    ``fpr``, then measure its false positive rate on ``(x, y)`` and, at each eps, its AUC
    and detection rate (TPR) on the adversarial examples ``spec`` (an ``AttackSpec``,
    default PGD-20) finds against the undefended model."""
    import time

    from bastion.robustness._attacks import run_attack
    from bastion.robustness._evaluate import eps_key, prepare_data
    from bastion.robustness.interface import AttackSpec

    t0 = time.process_time()
    attack = spec or AttackSpec("pgd", steps=20)
    eps_t = tuple(float(e) for e in eps)
    if not eps_t or len(eps_t) > 8 or list(eps_t) != sorted(set(eps_t)):
        raise RobustnessError("eps: give 1-8 distinct values in increasing order")
    span = attack.clip_max - attack.clip_min
    if any(not (math.isfinite(e) and 0 < e <= span) for e in eps_t):
        raise RobustnessError(f"eps must lie in (0, {span:g}] (the clip range)")
    xs, ys = prepare_data(detector.target, x, y)
    if len(xs) < 10:
        raise RobustnessError("give at least 10 evaluation inputs")
    from bastion.robustness._attacks import check_supported

    check_supported(detector.target, attack.name)
    cal = detector.fit(calibration_x, fpr=fpr)
    benign = detector.score(xs)
    correct = np.flatnonzero(detector.target.predict_labels(xs) == ys)
    out: dict[str, dict[str, float]] = {}
    for e in eps_t:
        o = run_attack(detector.target, xs[correct], ys[correct], e, attack)
        adv = o.x_adv[o.fooled]
        if len(adv) == 0:
            out[eps_key(e)] = {"auc": 0.5, "tpr": 0.0, "adversarial": 0.0}
            continue
        s = detector.score(adv)
        out[eps_key(e)] = {
            "auc": _auc(s, benign),
            "tpr": float((s > cal.threshold).mean()),
            "adversarial": float(len(adv)),
        }
    probe = xs[: min(100, len(xs))]
    c0 = time.process_time()
    for row in probe:
        detector.score(row)
    per = (time.process_time() - c0) / len(probe) * 1e6
    return DetectorEvaluation(
        calibration=cal,
        attack=attack.name,
        eps=eps_t,
        samples=len(xs),
        benign_fpr=float((benign > cal.threshold).mean()),
        detection=out,
        microseconds_per_input=per,
        cpu_seconds=time.process_time() - t0,
        config=detector.config(),
    )


def detector_from_files(
    model: Path,
    calibrate: Path,
    data: Path,
    *,
    label: str = "label",
    image_shape: tuple[int, ...] | None = None,
    bits: int | None = None,
    median: int | None = None,
    round_step: float | None = None,
    fpr: float = 0.05,
    eps: Sequence[float] = (0.1,),
    attack: str = "pgd",
    steps: int = 20,
    queries: int = 300,
    samples: int | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
) -> tuple[DetectorEvaluation, str, str]:
    """:func:`evaluate_detector` for a scanned-safe model file: (evaluation, model
    digest, data digest). Squeezers: ``bits`` / ``median`` / ``round_step`` as given, else
    :func:`default_squeezers`."""
    from bastion.robustness._data import load_dataset
    from bastion.robustness._targets import load_target
    from bastion.robustness.interface import AttackSpec

    if not 1 <= steps <= 1000 or not 1 <= queries <= 10_000:
        raise RobustnessError("steps must lie in 1..1000 and queries in 1..10000")
    if attack not in ("fgsm", "pgd", "square"):
        raise RobustnessError("the detector is measured against fgsm, pgd or square")
    if samples is not None and not 1 <= samples <= MAX_ROWS:
        raise RobustnessError(f"samples must lie in 1..{MAX_ROWS}")
    squeezers: list[Squeezer] = []
    if bits is not None:
        squeezers.append(BitDepth(bits, clip_min, clip_max))
    if median is not None:
        squeezers.append(MedianSmoothing(median, image_shape))
    if round_step is not None:
        squeezers.append(Rounding(round_step))
    cal = load_dataset(calibrate, label=label)
    ev = load_dataset(data, label=label)
    loaded = load_target(model)
    detector = FeatureSqueezingDetector(
        loaded.target,
        squeezers or None,
        image_shape=image_shape,
        clip_min=clip_min,
        clip_max=clip_max,
    )
    x, y = (ev.x, ev.y) if samples is None else (ev.x[:samples], ev.y[:samples])
    spec = AttackSpec(
        attack, steps=steps, queries=queries, seed=seed, clip_min=clip_min, clip_max=clip_max
    )
    result = evaluate_detector(detector, cal.x, x, y, eps=eps, spec=spec, fpr=fpr)
    return result, loaded.digest, ev.digest


def record_detector(
    ws: Workspace,
    evaluation: DetectorEvaluation,
    subject: Subject,
    *,
    min_tpr: float | None = None,
    data_digest: str | None = None,
    actor: str = "system",
) -> Evidence:
    """Record the evaluation as ``robustness.detector`` evidence: ``fail`` when the
    detection rate at the largest eps is below ``min_tpr``."""
    from bastion.core.checks import record_evidence
    from bastion.robustness._checks import DetectorCheck

    if min_tpr is not None and not (math.isfinite(min_tpr) and 0 <= min_tpr <= 1):
        raise RobustnessError("min_tpr must lie in [0, 1]")
    verdict, findings = detector_verdict(evaluation, min_tpr)
    data = evaluation.to_data() | {"min_tpr": min_tpr, "data_digest": data_digest}
    return record_evidence(
        ws, DetectorCheck, subject, verdict=verdict, data=data, findings=findings, actor=actor
    )


def detector_verdict(
    evaluation: DetectorEvaluation, min_tpr: float | None
) -> tuple[Verdict, tuple[Finding, ...]]:
    """``fail`` when the TPR at the largest eps is below ``min_tpr``, else ``pass``."""
    from bastion.core.types import Finding, Severity, Verdict
    from bastion.robustness._evaluate import eps_key

    top = evaluation.detection[eps_key(evaluation.eps[-1])]
    if min_tpr is not None and top["tpr"] < min_tpr:
        return Verdict.FAIL, (
            Finding(
                rule_id="robustness.detector.below_threshold",
                title="the detector misses too many adversarial examples",
                severity=Severity.MEDIUM,
                message=f"{evaluation.attack} at eps {evaluation.eps[-1]:g}: detection rate "
                f"{top['tpr']:.3f} < {min_tpr:.3f} at a {evaluation.calibration.target_fpr:g} "
                "false positive rate",
                references=("AML.M0015",),
                remediation="other squeezers, a higher FPR budget, or adversarial training",
            ),
        )
    return Verdict.PASS, ()
