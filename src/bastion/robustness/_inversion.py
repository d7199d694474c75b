"""Model inversion (Fredrikson, Jha and Ristenpart 2015, MI-FACE): reconstruct what a
class looks like to the model from its gradients alone.

For each class, gradient descent on the input (from a blank start: the lowest value, or
``start``) lowers the class's cross-entropy ``-log p(class | x)`` (MI-FACE's ``1 - p``
saturates where p is near 0, and its gradient with it) plus a small L2 pull towards the
start, inside the data's range. The
reconstruction leaks when it resembles the class's training data: it is scored by the
model's confidence in the class and, given reference data, by whether the nearest class
mean (cosine similarity) is the class's own (identification accuracy over the classes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.robustness.interface import Capability, RobustnessError, Target

__all__ = ["InversionResult", "invert_classes"]


@dataclass(frozen=True)
class InversionResult:
    classes: tuple[int, ...]
    reconstructions: NDArray[np.float32]  # (classes, *input_shape)
    confidence: tuple[float, ...]  # the model's probability of the class
    nearest_class: tuple[int, ...] | None  # the reference class mean nearest each one
    similarity: tuple[float, ...] | None  # cosine to the own class mean
    steps: int
    cpu_seconds: float

    @property
    def identification_accuracy(self) -> float | None:
        if self.nearest_class is None:
            return None
        return float(
            np.mean([a == b for a, b in zip(self.nearest_class, self.classes, strict=True)])
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "confidence": list(self.confidence),
            "nearest_class": None if self.nearest_class is None else list(self.nearest_class),
            "similarity": None if self.similarity is None else list(self.similarity),
            "identification_accuracy": self.identification_accuracy,
            "steps": self.steps,
            "cost": {
                "cpu_seconds": round(self.cpu_seconds, 4),
                "gradient_evaluations": self.steps * len(self.classes),
            },
        }

    def grid_svg(self, image_shape: tuple[int, int]) -> str:
        """The reconstructions as a row of grey images."""
        from matplotlib.figure import Figure

        from bastion.core.charts import render_svg

        k = len(self.classes)
        fig = Figure(figsize=(1.2 * k, 1.6))
        for i, c in enumerate(self.classes):
            ax = fig.add_subplot(1, k, i + 1)
            ax.imshow(self.reconstructions[i].reshape(image_shape), cmap="gray_r")
            ax.set_title(f"{c}: {self.confidence[i]:.2f}", fontsize=8)
            ax.axis("off")
        return render_svg(fig, "bastion-robustness")


def invert_classes(
    target: Target,
    classes: Sequence[int] | None = None,
    *,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 0.01,
    start: float | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    reference: tuple[NDArray[Any], NDArray[Any]] | None = None,
) -> InversionResult:
    """MI-FACE against a white-box target, one reconstruction per class (None: all)."""
    if Capability.GRADIENTS not in target.capabilities:
        raise RobustnessError(
            f"model inversion needs gradients, which this {target.kind} target does not give"
        )
    cls = tuple(range(target.n_classes)) if classes is None else tuple(int(c) for c in classes)
    if not cls or len(cls) > 1000 or any(not 0 <= c < target.n_classes for c in cls):
        raise RobustnessError(f"classes must lie in 0..{target.n_classes - 1}")
    if not 1 <= steps <= 10_000 or not (math.isfinite(lr) and lr > 0) or not l2 >= 0:
        raise RobustnessError("steps in 1..10000, lr > 0, l2 >= 0")
    if not (math.isfinite(clip_min) and math.isfinite(clip_max) and clip_min < clip_max):
        raise RobustnessError("clip: expected finite clip_min < clip_max")
    t0 = time.process_time()
    diff: Any = target
    shape = tuple(target.input_shape)
    if start is not None and not (math.isfinite(start) and clip_min <= start <= clip_max):
        raise RobustnessError("start must lie in the clip range")
    x0 = torch.full((len(cls), *shape), clip_min if start is None else float(start))
    x = x0.clone()
    y = torch.tensor(cls)
    with diff.frozen():
        for _ in range(steps):
            x = x.detach().requires_grad_(True)
            ce = torch.nn.functional.cross_entropy(diff.logits(x), y, reduction="sum")
            loss = ce + l2 * ((x - x0) ** 2).sum()
            (g,) = torch.autograd.grad(loss, x)
            x = (x - lr * g).clamp(clip_min, clip_max)
    rec = x.detach().numpy().astype(np.float32)
    conf = target.predict_proba(rec)[np.arange(len(cls)), list(cls)]
    nearest = sim = None
    if reference is not None:
        rx = np.asarray(reference[0], dtype=np.float64).reshape(len(reference[0]), -1)
        ry = np.asarray(reference[1]).astype(np.int64)
        if len(rx) != len(ry) or rx.shape[1] != math.prod(shape):
            raise RobustnessError("reference: inputs of the model's shape, one label each")
        labels = np.unique(ry)
        means = np.stack([rx[ry == c].mean(axis=0) for c in labels])
        means = means - rx.mean(axis=0)
        flat = rec.reshape(len(cls), -1).astype(np.float64) - rx.mean(axis=0)
        cos = (flat @ means.T) / (
            np.linalg.norm(flat, axis=1, keepdims=True) * np.linalg.norm(means, axis=1) + 1e-12
        )
        nearest = tuple(int(labels[i]) for i in cos.argmax(axis=1))
        own = [int(np.flatnonzero(labels == c)[0]) if c in labels else -1 for c in cls]
        sim = tuple(float(cos[i, j]) if j >= 0 else 0.0 for i, j in enumerate(own))
    return InversionResult(
        classes=cls,
        reconstructions=rec,
        confidence=tuple(float(c) for c in conf),
        nearest_class=nearest,
        similarity=sim,
        steps=steps,
        cpu_seconds=time.process_time() - t0,
    )
