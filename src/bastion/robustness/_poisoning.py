"""Poisoning of a training set and its detection.

Attacks: label flipping (a share of the labels changed to another class, at random or to
one class) and backdoor poisoning (Gu et al. 2017, BadNets: a trigger stamped on a share
of the training inputs, relabelled to the attacker's class; the attack success rate is
the share of triggered test inputs of other classes the trained model puts in that class).

Detection, from the trained model's penultimate-layer activations of the training set:
activation clustering (Chen et al. 2018: per class, the activations reduced to a few
principal components and split into two clusters by k-means; a class whose smaller
cluster holds under ``max_share`` of its points is poisoned there) and spectral
signatures (Tran, Li and Madry 2018: per class, the squared projection of the centred
activations on their top singular vector; the top 1.5 x the expected poisoning rate are
flagged). Both report precision and recall against the indices actually poisoned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.robustness.interface import RobustnessError, Target

__all__ = [
    "DetectionResult",
    "FeatureTrigger",
    "PatchTrigger",
    "PoisoningReport",
    "activation_clustering",
    "activations",
    "attack_success_rate",
    "backdoor_poison",
    "flip_labels",
    "poisoning_exercise",
    "poisoning_from_files",
    "spectral_signatures",
]

MAX_ROWS = 1_000_000


def _rate(rate: float) -> float:
    if not (math.isfinite(rate) and 0 < rate < 1):
        raise RobustnessError("the poisoning rate must lie in (0, 1)")
    return float(rate)


def flip_labels(
    y: NDArray[Any],
    rate: float,
    *,
    n_classes: int,
    target_class: int | None = None,
    seed: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(poisoned labels, flipped indices): ``rate`` of the labels changed to a different
    class, uniformly at random or to ``target_class`` (only labels of other classes)."""
    yi = np.asarray(y).astype(np.int64)
    if yi.ndim != 1 or len(yi) == 0 or len(yi) > MAX_ROWS:
        raise RobustnessError(f"labels: give 1-{MAX_ROWS} class indices")
    if n_classes < 2 or yi.min() < 0 or yi.max() >= n_classes:
        raise RobustnessError(f"labels outside the classes 0..{n_classes - 1}")
    rng = np.random.default_rng(seed)
    pool = np.arange(len(yi)) if target_class is None else np.flatnonzero(yi != target_class)
    if target_class is not None and not 0 <= target_class < n_classes:
        raise RobustnessError(f"target_class must lie in 0..{n_classes - 1}")
    k = min(len(pool), round(_rate(rate) * len(yi)))
    idx = np.sort(rng.choice(pool, size=k, replace=False))
    out = yi.copy()
    if target_class is not None:
        out[idx] = target_class
    else:
        shift = rng.integers(1, n_classes, size=k)
        out[idx] = (yi[idx] + shift) % n_classes
    return out, idx.astype(np.int64)


class PatchTrigger:
    """A ``size`` x ``size`` patch of ``value`` stamped in a corner of each image
    (``image_shape`` (h, w) or (c, h, w); flat inputs are reshaped)."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        size: int = 2,
        value: float = 1.0,
        corner: str = "bottom_right",
    ) -> None:
        if len(image_shape) not in (2, 3) or min(image_shape[-2:]) < size or size < 1:
            raise RobustnessError("trigger: image_shape (h, w) or (c, h, w) and 1 <= size <= h, w")
        if corner not in ("bottom_right", "top_left", "top_right", "bottom_left"):
            raise RobustnessError("trigger: corner is one of bottom_right, top_left, ...")
        self.image_shape, self.size, self.value, self.corner = (
            tuple(image_shape),
            int(size),
            float(value),
            corner,
        )
        self.name = f"patch_{size}x{size}_{corner}"

    def __call__(self, x: NDArray[Any]) -> NDArray[np.float32]:
        xs = np.array(x, dtype=np.float32, copy=True)
        if xs[0].size != math.prod(self.image_shape):
            raise RobustnessError(f"trigger: inputs are not images of shape {self.image_shape}")
        img = xs.reshape((len(xs), *self.image_shape))
        h, w = self.image_shape[-2:]
        s = self.size
        rows = slice(h - s, h) if self.corner.startswith("bottom") else slice(0, s)
        cols = slice(w - s, w) if self.corner.endswith("right") else slice(0, s)
        img[..., rows, cols] = self.value
        return img.reshape(xs.shape)


class FeatureTrigger:
    """Tabular trigger: the given features set to the given values."""

    def __init__(self, features: Sequence[int], values: Sequence[float]) -> None:
        if not features or len(features) != len(values):
            raise RobustnessError("trigger: one value per feature")
        self.features = tuple(int(f) for f in features)
        self.values = tuple(float(v) for v in values)
        self.name = "features_" + "_".join(str(f) for f in self.features)

    def __call__(self, x: NDArray[Any]) -> NDArray[np.float32]:
        xs = np.array(x, dtype=np.float32, copy=True)
        flat = xs.reshape(len(xs), -1)
        if max(self.features) >= flat.shape[1]:
            raise RobustnessError(f"trigger: feature outside 0..{flat.shape[1] - 1}")
        flat[:, list(self.features)] = self.values
        return flat.reshape(xs.shape)


Trigger = PatchTrigger | FeatureTrigger


def backdoor_poison(
    x: NDArray[Any],
    y: NDArray[Any],
    rate: float,
    *,
    trigger: Trigger,
    target_class: int,
    seed: int = 0,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]:
    """(poisoned inputs, poisoned labels, poisoned indices): ``rate`` of the training
    points of other classes stamped with ``trigger`` and relabelled ``target_class``."""
    xs = np.asarray(x, dtype=np.float32)
    yi = np.asarray(y).astype(np.int64)
    if len(xs) != len(yi) or len(xs) == 0 or len(xs) > MAX_ROWS:
        raise RobustnessError(f"training data: 1-{MAX_ROWS} inputs, one label each")
    if not 0 <= target_class <= int(yi.max()):
        raise RobustnessError("target_class must be one of the labels")
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(yi != target_class)
    k = min(len(pool), round(_rate(rate) * len(yi)))
    idx = np.sort(rng.choice(pool, size=k, replace=False))
    xp, yp = xs.copy(), yi.copy()
    xp[idx] = trigger(xs[idx])
    yp[idx] = target_class
    return xp, yp, idx.astype(np.int64)


def attack_success_rate(
    target: Target, x: NDArray[Any], y: NDArray[Any], *, trigger: Trigger, target_class: int
) -> float:
    """Share of test inputs not of ``target_class`` that the model puts in it once
    triggered."""
    yi = np.asarray(y).astype(np.int64)
    keep = yi != target_class
    if not keep.any():
        raise RobustnessError("no test input outside the target class")
    xt = trigger(np.asarray(x, dtype=np.float32)[keep])
    xt = xt.reshape((len(xt), *target.input_shape))
    return float((target.predict_labels(xt) == target_class).mean())


def activations(module: torch.nn.Module, x: NDArray[Any]) -> NDArray[np.float64]:
    """The penultimate-layer activations of a ``torch.nn.Sequential`` classifier (every
    layer but the last)."""
    if not isinstance(module, torch.nn.Sequential) or len(module) < 2:
        raise RobustnessError(
            "activations: a torch.nn.Sequential whose last layer is the classifier"
        )
    body = module[:-1]
    with torch.no_grad():
        out = body(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    a: NDArray[np.float64] = out.reshape(len(out), -1).numpy().astype(np.float64)
    return a


@dataclass(frozen=True)
class DetectionResult:
    method: str
    flagged: NDArray[np.int64]
    precision: float | None  # None without the true poisoned indices
    recall: float | None
    flagged_classes: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "flagged": len(self.flagged),
            "precision": self.precision,
            "recall": self.recall,
            "flagged_classes": list(self.flagged_classes),
        }


def _score(
    method: str, flagged: NDArray[np.int64], poisoned: NDArray[Any] | None, classes: list[int]
) -> DetectionResult:
    flagged = np.unique(flagged).astype(np.int64)
    if poisoned is None:
        return DetectionResult(method, flagged, None, None, tuple(classes))
    truth = set(np.asarray(poisoned).astype(int).tolist())
    hit = sum(1 for i in flagged.tolist() if i in truth)
    precision = hit / len(flagged) if len(flagged) else 0.0
    recall = hit / len(truth) if truth else 1.0
    return DetectionResult(method, flagged, precision, recall, tuple(classes))


def _check(acts: NDArray[Any], y: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    a = np.asarray(acts, dtype=np.float64)
    yi = np.asarray(y).astype(np.int64)
    if a.ndim != 2 or len(a) != len(yi) or len(a) < 4 or not np.isfinite(a).all():
        raise RobustnessError("detection: one finite activation row per training label")
    return a, yi


def activation_clustering(
    acts: NDArray[Any],
    y: NDArray[Any],
    *,
    components: int = 10,
    max_share: float = 0.35,
    poisoned: NDArray[Any] | None = None,
    seed: int = 0,
) -> DetectionResult:
    """Activation clustering (Chen et al. 2018), per class: PCA to ``components``, k-means
    with two clusters; the smaller cluster is flagged when it holds less than
    ``max_share`` of the class."""
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]

    a, yi = _check(acts, y)
    if not 0 < max_share < 0.5:
        raise RobustnessError("max_share must lie in (0, 0.5)")
    flagged: list[int] = []
    classes: list[int] = []
    for c in np.unique(yi):
        idx = np.flatnonzero(yi == c)
        if len(idx) < 4:
            continue
        z = a[idx] - a[idx].mean(axis=0)
        k = max(1, min(components, z.shape[1], len(idx) - 1))
        _u, _s, vt = np.linalg.svd(z, full_matrices=False)
        proj = z @ vt[:k].T
        labels = KMeans(n_clusters=2, n_init=5, random_state=seed).fit_predict(proj)
        small = int(np.argmin(np.bincount(labels, minlength=2)))
        share = float((labels == small).mean())
        if share < max_share:
            flagged.extend(idx[labels == small].tolist())
            classes.append(int(c))
    return _score("activation_clustering", np.asarray(flagged, np.int64), poisoned, classes)


def spectral_signatures(
    acts: NDArray[Any],
    y: NDArray[Any],
    *,
    expected_rate: float = 0.1,
    poisoned: NDArray[Any] | None = None,
) -> DetectionResult:
    """Spectral signatures (Tran, Li and Madry 2018), per class: the squared projection of
    the centred activations on their top right singular vector; the top
    ``1.5 * expected_rate`` of each class flagged."""
    a, yi = _check(acts, y)
    _rate(expected_rate)
    flagged: list[int] = []
    classes: list[int] = []
    for c in np.unique(yi):
        idx = np.flatnonzero(yi == c)
        if len(idx) < 4:
            continue
        z = a[idx] - a[idx].mean(axis=0)
        _u, _s, vt = np.linalg.svd(z, full_matrices=False)
        score = (z @ vt[0]) ** 2
        k = min(len(idx) - 1, math.ceil(1.5 * expected_rate * len(idx)))
        if k > 0:
            flagged.extend(idx[np.argsort(-score)[:k]].tolist())
            classes.append(int(c))
    return _score("spectral_signatures", np.asarray(flagged, np.int64), poisoned, classes)


@dataclass(frozen=True)
class PoisoningReport:
    """A poisoning exercise: the same MLP trained on the clean and on the poisoned set."""

    attack: str
    rate: float
    poisoned: int
    target_class: int | None
    clean_model_accuracy: float
    poisoned_model_accuracy: float
    clean_model_asr: float | None  # backdoor only
    attack_success_rate: float | None
    detection: tuple[DetectionResult, ...]
    cpu_seconds: float

    def to_data(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "rate": self.rate,
            "poisoned": self.poisoned,
            "target_class": self.target_class,
            "clean_model_accuracy": self.clean_model_accuracy,
            "poisoned_model_accuracy": self.poisoned_model_accuracy,
            "accuracy_drop": self.clean_model_accuracy - self.poisoned_model_accuracy,
            "clean_model_attack_success_rate": self.clean_model_asr,
            "attack_success_rate": self.attack_success_rate,
            "detection": [d.to_dict() for d in self.detection],
            "cost": {"cpu_seconds": round(self.cpu_seconds, 4)},
        }


def poisoning_exercise(
    x_train: NDArray[Any],
    y_train: NDArray[Any],
    x_test: NDArray[Any],
    y_test: NDArray[Any],
    *,
    attack: str = "backdoor",
    rate: float = 0.05,
    target_class: int | None = 0,
    trigger: Trigger | None = None,
    hidden: tuple[int, ...] = (64,),
    epochs: int = 30,
    detect: bool = True,
    seed: int = 0,
) -> PoisoningReport:
    """Poison the training set (``backdoor`` with ``trigger``, or ``label_flip``), train
    the same ReLU MLP on the clean and the poisoned set, and measure the damage (accuracy,
    attack success rate) and, for a backdoor, whether the detectors find the poison."""
    import time

    from bastion.robustness._compare import mlp
    from bastion.robustness._defenses import TrainSpec, train_classifier
    from bastion.robustness._targets import TorchTarget

    if attack not in ("backdoor", "label_flip"):
        raise RobustnessError(f"unknown poisoning attack {attack[:40]!r} (backdoor, label_flip)")
    xs = np.asarray(x_train, dtype=np.float32)
    ys = np.asarray(y_train)
    if xs.ndim < 2 or len(xs) != len(ys) or len(xs) < 10:
        raise RobustnessError("training data: at least 10 inputs, one label each")
    if not np.all(np.equal(np.mod(ys, 1), 0)) or ys.min() < 0:
        raise RobustnessError("training labels must be class indices")
    yi = ys.astype(np.int64)
    n_classes = max(2, int(yi.max()) + 1)
    if attack == "backdoor" and (trigger is None or target_class is None):
        raise RobustnessError(
            "a backdoor needs a trigger (an image shape or trigger features) and a target class"
        )
    if target_class is not None and not 0 <= target_class < n_classes:
        raise RobustnessError(f"target_class must lie in 0..{n_classes - 1}")
    _rate(rate)
    spec = TrainSpec(epochs=epochs, seed=seed)
    spec.validate()
    d = xs[0].size
    flat = xs.reshape(len(xs), d)
    xt = np.asarray(x_test, dtype=np.float32).reshape(len(x_test), -1)
    if xt.shape[1] != d:
        raise RobustnessError("test data: inputs of another shape than the training data")
    t0 = time.process_time()
    if trigger is not None and target_class is not None and attack == "backdoor":
        xp, yp, idx = backdoor_poison(
            flat, yi, rate, trigger=trigger, target_class=target_class, seed=seed
        )
    else:
        yp, idx = flip_labels(yi, rate, n_classes=n_classes, target_class=target_class, seed=seed)
        xp = flat

    def fit(x: NDArray[np.float32], y: NDArray[np.int64]) -> torch.nn.Sequential:
        module = mlp(d, n_classes, hidden, seed=seed)
        train_classifier(module, x, y, input_shape=(d,), spec=spec)
        return module

    clean_m, pois_m = fit(flat, yi), fit(xp, yp)
    clean_t, pois_t = TorchTarget(clean_m, (d,)), TorchTarget(pois_m, (d,))
    yt = np.asarray(y_test).astype(np.int64)
    asr = clean_asr = None
    found: tuple[DetectionResult, ...] = ()
    if trigger is not None and target_class is not None and attack == "backdoor":
        asr = attack_success_rate(pois_t, xt, yt, trigger=trigger, target_class=target_class)
        clean_asr = attack_success_rate(clean_t, xt, yt, trigger=trigger, target_class=target_class)
    if detect:
        acts = activations(pois_m, xp)
        in_class = (
            float(np.isin(idx, np.flatnonzero(yp == target_class)).sum())
            / max(1, int((yp == target_class).sum()))
            if target_class is not None
            else rate
        )
        found = (
            activation_clustering(acts, yp, poisoned=idx, seed=seed),
            spectral_signatures(
                acts, yp, expected_rate=min(0.49, max(in_class, 0.01)), poisoned=idx
            ),
        )
    return PoisoningReport(
        attack=attack,
        rate=rate,
        poisoned=len(idx),
        target_class=target_class,
        clean_model_accuracy=float((clean_t.predict_labels(xt) == yt).mean()),
        poisoned_model_accuracy=float((pois_t.predict_labels(xt) == yt).mean()),
        clean_model_asr=clean_asr,
        attack_success_rate=asr,
        detection=found,
        cpu_seconds=time.process_time() - t0,
    )


def poisoning_from_files(
    train: Path,
    data: Path,
    *,
    label: str = "label",
    attack: str = "backdoor",
    rate: float = 0.05,
    target_class: int | None = 0,
    image_shape: tuple[int, ...] | None = None,
    patch: int = 2,
    patch_value: float = 1.0,
    trigger_features: tuple[int, ...] = (),
    trigger_values: tuple[float, ...] = (),
    hidden: tuple[int, ...] = (64,),
    epochs: int = 30,
    detect: bool = True,
    seed: int = 0,
) -> tuple[PoisoningReport, str, str]:
    """:func:`poisoning_exercise` on a training and a test file: (report, train digest,
    test digest). The trigger: a patch when ``image_shape`` is given, else the
    ``trigger_features`` set to ``trigger_values``."""
    from bastion.robustness._data import load_dataset

    trigger: Trigger | None = None
    if attack == "backdoor":
        if image_shape is not None:
            trigger = PatchTrigger(image_shape, patch, patch_value)
        elif trigger_features:
            trigger = FeatureTrigger(trigger_features, trigger_values)
        else:
            raise RobustnessError("a backdoor needs --image-shape or --trigger-features")
    tr = load_dataset(train, label=label)
    ev = load_dataset(data, label=label)
    if image_shape is not None and tr.x[0].size != math.prod(image_shape):
        raise RobustnessError(f"{train}: inputs are not images of shape {image_shape}")
    report = poisoning_exercise(
        tr.x, tr.y, ev.x, ev.y, attack=attack, rate=rate, target_class=target_class,
        trigger=trigger, hidden=hidden, epochs=epochs, detect=detect, seed=seed,
    )  # fmt: skip
    return report, tr.digest, ev.digest
