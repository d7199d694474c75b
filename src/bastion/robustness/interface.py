"""The robustness room's interface: what a target supports, the Target protocol, the
room's error and the result types its attacks, metrics and certification return.

A *target* is the model under evaluation behind a narrow face: ``predict_labels`` (every
target), ``predict_proba`` (score-based targets) and ``input_gradient`` (white-box
targets). Each declares what it supports in ``capabilities``; an attack that needs more
than a target declares is refused before any work starts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import InputError

__all__ = [
    "ATTACKS",
    "AttackSpec",
    "Capability",
    "CertificationResult",
    "CertifySpec",
    "CurvePoint",
    "FeatureConstraints",
    "Norm",
    "RobustnessError",
    "Target",
    "ValidityResult",
]

Array = NDArray[np.float32]


class RobustnessError(InputError):
    """An evaluation refused before it started (shape, capability, budget), with the reason."""


class Capability(enum.StrEnum):
    """What a target can answer. Gradients imply probabilities; probabilities imply labels."""

    GRADIENTS = "gradients"
    PROBABILITIES = "probabilities"
    LABELS = "labels"


class Norm(enum.StrEnum):
    LINF = "linf"
    L2 = "l2"


@runtime_checkable
class Target(Protocol):
    """A model under evaluation. Inputs are float32 arrays of shape ``(n, *input_shape)``."""

    kind: str
    capabilities: frozenset[Capability]
    input_shape: tuple[int, ...]
    n_classes: int

    def predict_labels(self, x: Array) -> NDArray[np.int64]:
        """The predicted class of each input."""
        ...

    def predict_proba(self, x: Array) -> Array:
        """Class probabilities, shape ``(n, n_classes)`` (``RobustnessError`` if unsupported)."""
        ...


@dataclass(frozen=True)
class FeatureConstraints:
    """Tabular constraints an attack must respect (feature indices into a flat row).

    ``immutable``: features an attacker cannot change (age, say). ``lower``/``upper``: per
    feature bounds (None: the data's clip range). ``integer``: features rounded to whole
    numbers. ``one_hot``: groups of columns that encode one categorical feature; the
    attack keeps each group a valid one-hot vector. ``scale``: per-feature units of epsilon
    (a budget of 0.1 moves a feature by at most 0.1 * scale), None: one unit for all.
    """

    immutable: tuple[int, ...] = ()
    lower: tuple[float, ...] | None = None
    upper: tuple[float, ...] | None = None
    integer: tuple[int, ...] = ()
    one_hot: tuple[tuple[int, ...], ...] = ()
    scale: tuple[float, ...] | None = None

    def validate(self, n_features: int) -> None:
        idx = [*self.immutable, *self.integer, *(i for g in self.one_hot for i in g)]
        if any(not 0 <= i < n_features for i in idx):
            raise RobustnessError(f"constraints name a feature outside 0..{n_features - 1}")
        for name, vec in (("lower", self.lower), ("upper", self.upper), ("scale", self.scale)):
            if vec is not None and len(vec) != n_features:
                raise RobustnessError(
                    f"constraints.{name}: {len(vec)} values for {n_features} features"
                )
        if self.scale is not None and any(not s > 0 for s in self.scale):
            raise RobustnessError("constraints.scale: every value must be positive")
        if (
            self.lower is not None
            and self.upper is not None
            and any(lo > hi for lo, hi in zip(self.lower, self.upper, strict=True))
        ):
            raise RobustnessError("constraints: a lower bound lies above its upper bound")


@dataclass(frozen=True)
class AttackSpec:
    """An attack's parameters. ``step_size`` None: 2.5 * eps / steps (Madry et al.)."""

    name: str = "pgd"
    norm: Norm = Norm.LINF
    steps: int = 40
    step_size: float | None = None
    random_start: bool = True
    seed: int = 0
    clip_min: float = 0.0
    clip_max: float = 1.0
    constraints: FeatureConstraints | None = None
    batch_size: int | None = None
    queries: int = 1000  # Square attack: queries per input
    #: expectation over transformation: gradient samples averaged per step (None: 1, or
    #: EOT_SAMPLES when the evaluation finds the forward pass random)
    eot: int | None = None


ATTACKS: dict[str, frozenset[Capability]] = {
    "fgsm": frozenset({Capability.GRADIENTS}),
    "pgd": frozenset({Capability.GRADIENTS}),
    "square": frozenset({Capability.PROBABILITIES}),
    "hopskipjump": frozenset({Capability.LABELS}),
}


@dataclass(frozen=True)
class CertifySpec:
    """Randomized-smoothing parameters (Cohen et al. 2019) and the radii to report."""

    sigma: float
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    radii: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class CurvePoint:
    """Accuracy under perturbation at one epsilon."""

    eps: float
    accuracy: float
    success_rate: float
    mean_perturbation: float
    max_perturbation: float


@dataclass(frozen=True)
class ValidityResult:
    """One check of the evaluation's own validity (Bastion refuses numbers it cannot trust)."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class CertificationResult:
    """Randomized-smoothing certification (Cohen et al. 2019) of each input.

    ``predictions``: the smoothed class, -1 where it abstains; ``radii``: the certified L2
    radius (0 where it abstains). ``certified_accuracy(r)``: share of inputs predicted
    correctly with a radius of at least ``r``."""

    sigma: float
    n0: int
    n: int
    alpha: float
    predictions: NDArray[np.int64]
    radii: NDArray[np.float64]
    labels: NDArray[np.int64]
    queries: int
    cpu_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def certified_accuracy(self, radius: float) -> float:
        ok = (self.predictions == self.labels) & (self.radii >= radius)
        return float(ok.mean()) if ok.size else 0.0

    @property
    def abstain_rate(self) -> float:
        return float((self.predictions < 0).mean()) if self.predictions.size else 0.0

    def histogram(self, bins: int = 10) -> dict[str, list[float]]:
        """The distribution of certified radii of the correctly certified inputs."""
        ok = self.radii[(self.predictions == self.labels) & (self.predictions >= 0)]
        hi = float(ok.max()) if ok.size else 1.0
        counts, edges = np.histogram(ok, bins=bins, range=(0.0, max(hi, 1e-12)))
        return {"edges": [float(e) for e in edges], "counts": [float(c) for c in counts]}
