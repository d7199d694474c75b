"""Scripted probing traffic to evaluate the detection stages (tests and benchmarks).

Not attacks to assess a model's robustness (that is the robustness room's job): these are
the *query streams* such attacks send, played against a model whose every prediction
first goes through the guard's detectors (:class:`GuardedOracle`), so that an evaluation
can say after how many queries each detector fired.

- :func:`jacobian_extraction`: Papernot et al.'s Jacobian-based dataset augmentation
  (2017), the synthetic-query extraction PRADA was designed against: a few natural seed
  rows, then rounds of ``x + lam * sign(gradient of the surrogate)`` queries, a
  logistic-regression surrogate trained on the answers (needs scikit-learn).
- :func:`random_extraction`: Tramèr et al.-style uniformly random queries over the input
  box, a surrogate trained on the answers.
- :func:`boundary_walk`: a HopSkipJump-like decision-based attack (Chen, Jordan and
  Wainwright 2020): binary searches to the decision boundary, Monte Carlo gradient-sign
  estimates from label-only queries around the boundary point, geometric step search.
- :func:`replay`: benign traffic, rows of the data distribution sent as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import InputError
from bastion.guard.interface import GuardRequest, InputDetector, OutputFilter, Response, Verdict

__all__ = [
    "GuardedOracle",
    "boundary_walk",
    "jacobian_extraction",
    "random_extraction",
    "replay",
]

Array = NDArray[np.float64]


@dataclass
class GuardedOracle:
    """A label oracle whose every query goes through ``detectors`` first, as the guard
    would run them. Records per detector the 1-based index of the first query that earned
    ``min_verdict`` or more, and how many queries earned it. The query is answered either
    way (an evaluation measures when detection happens, not what blocking does); the
    answer ``{"label": n}`` then goes to every detector that is also an output filter."""

    predict: Callable[[Array], int]
    detectors: Sequence[InputDetector]
    client_id: str = "client"
    endpoint: str = "model"
    min_verdict: Verdict = Verdict.THROTTLE
    queries: int = 0
    first_detection: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    max_queries: int = 1_000_000

    def __call__(self, x: Array) -> int:
        if self.queries >= self.max_queries:
            raise InputError(f"oracle: more than {self.max_queries} queries")
        self.queries += 1
        req = GuardRequest(
            request_id=f"q{self.queries}",
            endpoint=self.endpoint,
            client_id=self.client_id,
            identity=None,
            features=[float(v) for v in np.asarray(x, dtype=np.float64).ravel()],
        )
        for det in self.detectors:
            if det.inspect(req).verdict >= self.min_verdict:
                self.first_detection.setdefault(det.name, self.queries)
                self.flagged[det.name] = self.flagged.get(det.name, 0) + 1
        label = int(self.predict(np.asarray(x, dtype=np.float64)))
        answer = Response(200, {"label": label})
        for det in self.detectors:
            if isinstance(det, OutputFilter):  # e.g. PRADA learning the predicted class
                det.filter(req, answer)
        return label

    def detected_at(self) -> int | None:
        """The first query any detector flagged, or None."""
        return min(self.first_detection.values()) if self.first_detection else None


def _surrogate(x: Array, y: NDArray[np.int64]) -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    if len(set(y.tolist())) < 2:
        return None
    return LogisticRegression(max_iter=500).fit(x, y)


def jacobian_extraction(
    oracle: Callable[[Array], int],
    seed_x: Array,
    *,
    rounds: int = 6,
    lam: float = 1.0,
    clip: tuple[float, float] = (0.0, 1.0),
    max_queries: int = 1000,
) -> tuple[Any, Array, NDArray[np.int64]]:
    """Papernot's Jacobian-based augmentation; returns (surrogate, queries, labels)."""
    s = np.asarray(seed_x, dtype=np.float64)
    if s.ndim != 2 or len(s) == 0:
        raise InputError("jacobian_extraction: seed_x must be a non-empty 2-D array")
    xs: list[Array] = list(s)
    ys = [oracle(row) for row in s]
    signs = np.random.default_rng(0)
    for _ in range(rounds):
        sur = _surrogate(np.array(xs), np.array(ys))
        frontier = list(xs)
        for x in frontier:
            if len(xs) >= max_queries:
                break
            if sur is None:  # one class seen so far: step in a random sign direction
                g = signs.choice([-1.0, 1.0], size=x.size)
            else:
                p = sur.predict_proba(x[np.newaxis, :])[0]
                w = (
                    sur.coef_
                    if sur.coef_.shape[0] == len(p)
                    else np.vstack([-sur.coef_, sur.coef_])
                )
                ci = int(np.argmax(p))
                g = p[ci] * (w[ci] - p @ w)
            q = np.clip(x + lam * np.sign(g), *clip)
            xs.append(q)
            ys.append(oracle(q))
        if len(xs) >= max_queries:
            break
    sur = _surrogate(np.array(xs), np.array(ys))
    return sur, np.array(xs), np.array(ys, dtype=np.int64)


def random_extraction(
    oracle: Callable[[Array], int],
    n: int,
    n_features: int,
    *,
    clip: tuple[float, float] = (0.0, 1.0),
    rng: np.random.Generator,
) -> tuple[Any, Array, NDArray[np.int64]]:
    """Uniformly random queries over the input box; returns (surrogate, queries, labels)."""
    xs = rng.uniform(clip[0], clip[1], size=(n, n_features))
    ys = np.array([oracle(x) for x in xs], dtype=np.int64)
    return _surrogate(xs, ys), xs, ys


def boundary_walk(
    oracle: Callable[[Array], int],
    x0: Array,
    x_start: Array,
    *,
    rng: np.random.Generator,
    iterations: int = 5,
    gradient_queries: int = 40,
    clip: tuple[float, float] = (0.0, 1.0),
) -> Array:
    """A HopSkipJump-like label-only attack from ``x_start`` (classified differently from
    ``x0``) towards ``x0``; returns the adversarial point it ends with."""
    x0 = np.asarray(x0, dtype=np.float64)
    adv = np.asarray(x_start, dtype=np.float64).copy()
    c0 = oracle(x0)
    if oracle(adv) == c0:
        raise InputError("boundary_walk: x_start must be classified differently from x0")
    d = x0.size
    for it in range(iterations):
        lo, hi = 0.0, 1.0  # blend (1 - a) x0 + a adv; a = 1 is adversarial
        for _ in range(10):
            mid = (lo + hi) / 2
            if oracle((1 - mid) * x0 + mid * adv) != c0:
                hi = mid
            else:
                lo = mid
        boundary = (1 - hi) * x0 + hi * adv
        dist = float(np.linalg.norm(boundary - x0))
        delta = 0.01 * dist * np.sqrt(d) / (it + 1)
        g = np.zeros(d)
        for _ in range(gradient_queries):
            u = rng.normal(size=d)
            u /= np.linalg.norm(u)
            sign = 1.0 if oracle(np.clip(boundary + delta * u, *clip)) != c0 else -1.0
            g += sign * u
        g /= max(float(np.linalg.norm(g)), 1e-12)
        step = dist / np.sqrt(it + 1)
        cand = np.clip(boundary + step * g, *clip)
        for _ in range(8):
            if oracle(cand) != c0:
                break
            step /= 2
            cand = np.clip(boundary + step * g, *clip)
        else:
            cand = boundary
        adv = cand
    return adv


def replay(oracle: Callable[[Array], int], rows: Array) -> NDArray[np.int64]:
    """Benign traffic: each row sent once, in order; returns the answers."""
    return np.array([oracle(np.asarray(r, dtype=np.float64)) for r in rows], dtype=np.int64)
