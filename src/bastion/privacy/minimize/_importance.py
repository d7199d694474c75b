"""Which features a model needs: permutation and drop-column importance with a paired
bootstrap confidence interval of the performance delta.

Both measure ``score(model with the feature) - score(without it)`` row by row on the same
evaluation rows, so the interval is a paired bootstrap of per-row deltas (resampling rows,
not re-running the model). Permutation importance shuffles one column of the evaluation
data through the given model (``repeats`` shuffles, averaged per row); it understates a
feature whose information another column also carries. Drop-column importance refits a
clone of a scikit-learn estimator without the column on a training split and scores both
fits on the held-out rows: the question minimization actually asks ("would a model
without it do as well?"). Only estimators scikit-learn can clone are refitted; the model
file is never executed beyond the scanned-safe load of the robustness room.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import InputError

__all__ = [
    "Importance",
    "Metric",
    "bootstrap_ci",
    "drop_column_importance",
    "label_index",
    "permutation_importance",
    "row_scores",
]

MAX_BOOTSTRAP = 10_000
_CHUNK = 64

Progress = Callable[[int, int], None]


class Metric(enum.StrEnum):
    """Per-row score, higher is better: ``accuracy`` (1 when the label is right) or
    ``log_loss`` (the log-probability of the true class, i.e. minus the log loss)."""

    ACCURACY = "accuracy"
    LOG_LOSS = "log_loss"


class _Target(Protocol):
    n_classes: int

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]: ...

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class Importance:
    """How much the score drops without ``feature`` (positive: the model needs it)."""

    feature: str
    method: str  # "permutation" | "drop_column"
    delta: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "method": self.method,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


def label_index(target: object, y: NDArray[np.float64], n_classes: int) -> NDArray[np.int64]:
    """Labels as indices into the model's classes (a scikit-learn ``classes_``, or 0..k-1)."""
    classes = getattr(target, "classes", None)
    if classes is not None:
        cls = np.asarray(classes)
        try:
            yy = y.astype(cls.dtype)
        except (TypeError, ValueError):
            raise InputError("target column: its values are not the model's classes") from None
        idx = np.clip(np.searchsorted(cls, yy), 0, len(cls) - 1)
        if not np.array_equal(cls[idx], yy):
            raise InputError("target column: holds a value that is not one of the model's classes")
        return idx.astype(np.int64)
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
        raise InputError("target column: expected integer class labels")
    if y.min() < 0 or y.max() >= n_classes:
        raise InputError(f"target column: labels must lie in 0..{n_classes - 1}")
    return y.astype(np.int64)


def row_scores(
    target: _Target, x: NDArray[Any], y_idx: NDArray[np.int64], metric: Metric
) -> NDArray[np.float64]:
    if metric is Metric.ACCURACY:
        hit: NDArray[np.float64] = (target.predict_labels(x) == y_idx).astype(np.float64)
        return hit
    p = np.asarray(target.predict_proba(x), dtype=np.float64)
    out: NDArray[np.float64] = np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-15, 1.0))
    return out


def bootstrap_ci(
    deltas: NDArray[np.float64], rng: np.random.Generator, n_boot: int, level: float
) -> tuple[float, float]:
    """Percentile interval of the mean of per-row ``deltas`` over ``n_boot`` resamples."""
    n = len(deltas)
    means = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        k = min(_CHUNK, n_boot - start)
        means[start : start + k] = deltas[rng.integers(0, n, size=(k, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _validate(n_boot: int, level: float, rows: int) -> None:
    if not 100 <= n_boot <= MAX_BOOTSTRAP:
        raise InputError(f"bootstrap: expected 100-{MAX_BOOTSTRAP} resamples")
    if not 0.5 <= level < 1.0:
        raise InputError("confidence level: expected a value in [0.5, 1)")
    if rows < 20:
        raise InputError(f"data: {rows} evaluation rows; at least 20 are needed")


def permutation_importance(
    target: _Target,
    x: NDArray[np.float32],
    y_idx: NDArray[np.int64],
    features: Sequence[str],
    *,
    metric: Metric,
    rng: np.random.Generator,
    repeats: int = 5,
    n_boot: int = 1000,
    level: float = 0.95,
    progress: Progress | None = None,
) -> tuple[float, list[Importance]]:
    """The baseline score and each feature's permutation importance on ``x``."""
    _validate(n_boot, level, len(x))
    if not 1 <= repeats <= 100:
        raise InputError("repeats: expected 1-100 shuffles per feature")
    base = row_scores(target, x, y_idx, metric)
    out: list[Importance] = []
    for j, name in enumerate(features):
        perm = np.zeros(len(x))
        xp = x.copy()
        for _ in range(repeats):
            xp[:, j] = x[rng.permutation(len(x)), j]
            perm += row_scores(target, xp, y_idx, metric)
        d = base - perm / repeats
        lo, hi = bootstrap_ci(d, rng, n_boot, level)
        out.append(Importance(name, "permutation", float(d.mean()), lo, hi))
        if progress:
            progress(j + 1, len(features))
    return float(base.mean()), out


def _fit_scores(
    estimator: Any,
    x_tr: NDArray[Any],
    y_tr: NDArray[Any],
    x_te: NDArray[Any],
    y_te: NDArray[Any],
    metric: Metric,
) -> NDArray[np.float64]:
    from sklearn.base import clone  # type: ignore[import-untyped]

    m = clone(estimator)
    try:
        m.fit(x_tr, y_tr)
    except (ValueError, TypeError) as exc:
        raise InputError(f"drop-column refit failed: {str(exc)[:200]}") from None
    if metric is Metric.ACCURACY:
        hit: NDArray[np.float64] = (np.asarray(m.predict(x_te)) == y_te).astype(np.float64)
        return hit
    classes = np.asarray(m.classes_)
    p = np.asarray(m.predict_proba(x_te), dtype=np.float64)
    idx = np.clip(np.searchsorted(classes, y_te), 0, len(classes) - 1)
    prob = np.where(classes[idx] == y_te, p[np.arange(len(y_te)), idx], 0.0)
    out: NDArray[np.float64] = np.log(np.clip(prob, 1e-15, 1.0))
    return out


def drop_column_importance(
    estimator: Any,
    x: NDArray[np.float32],
    y: NDArray[Any],
    features: Sequence[str],
    *,
    metric: Metric,
    rng: np.random.Generator,
    holdout_fraction: float = 0.3,
    n_boot: int = 1000,
    level: float = 0.95,
    progress: Progress | None = None,
) -> tuple[float, list[Importance]]:
    """Refit a clone of ``estimator`` with all features and without each one on a training
    split; the held-out baseline score and each feature's drop-column importance."""
    if not 0.1 <= holdout_fraction <= 0.5:
        raise InputError("holdout fraction: expected 0.1-0.5")
    if len(features) < 2:
        raise InputError("drop-column importance needs at least two features")
    order = rng.permutation(len(x))
    k = int(len(x) * holdout_fraction)
    te, tr = order[:k], order[k:]
    _validate(n_boot, level, len(te))
    x64 = np.asarray(x, dtype=np.float64)
    base = _fit_scores(estimator, x64[tr], y[tr], x64[te], y[te], metric)
    out: list[Importance] = []
    for j, name in enumerate(features):
        keep = np.delete(x64, j, axis=1)
        dropped = _fit_scores(estimator, keep[tr], y[tr], keep[te], y[te], metric)
        d = base - dropped
        lo, hi = bootstrap_ci(d, rng, n_boot, level)
        out.append(Importance(name, "drop_column", float(d.mean()), lo, hi))
        if progress:
            progress(j + 1, len(features))
    return float(base.mean()), out
