"""Randomized-smoothing certification (Cohen, Rosenfeld and Kolter 2019, CERTIFY).

The smoothed classifier predicts the class the base classifier most often gives under
Gaussian noise N(0, sigma^2 I). CERTIFY picks that class from ``n0`` noisy samples, counts
its votes among ``n`` fresh samples, takes the one-sided Clopper-Pearson lower bound
``pA`` at confidence ``1 - alpha``, and certifies the L2 radius ``sigma * Phi^-1(pA)``
when ``pA > 1/2`` (else it abstains). Only labels are needed: any target qualifies.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta, norm  # type: ignore[import-untyped]

from bastion.robustness.interface import CertificationResult, RobustnessError, Target

__all__ = ["certify", "clopper_pearson_lower"]

MAX_SAMPLES = 1_000_000
_CHUNK = 4096


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound of a binomial proportion."""
    if successes <= 0:
        return 0.0
    return float(beta.ppf(alpha, successes, trials - successes + 1))


def _counts(
    target: Target, x: NDArray[np.float32], num: int, sigma: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    counts = np.zeros(target.n_classes, dtype=np.int64)
    left = num
    while left > 0:
        k = min(left, _CHUNK)
        noisy = (x[None] + rng.normal(0.0, sigma, size=(k, *x.shape))).astype(np.float32)
        counts += np.bincount(target.predict_labels(noisy), minlength=target.n_classes)
        left -= k
    return counts


def certify(
    target: Target,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    *,
    sigma: float,
    n0: int = 100,
    n: int = 10_000,
    alpha: float = 0.001,
    seed: int = 0,
) -> CertificationResult:
    """CERTIFY each input; ``RobustnessError`` for parameters outside their meaning."""
    if not (np.isfinite(sigma) and sigma > 0):
        raise RobustnessError("sigma must be a positive number")
    if not 1 <= n0 <= MAX_SAMPLES or not 1 <= n <= MAX_SAMPLES:
        raise RobustnessError(f"n0 and n must lie in 1..{MAX_SAMPLES}")
    if not 0 < alpha < 0.5:
        raise RobustnessError("alpha must lie in (0, 0.5)")
    t0 = time.process_time()
    rng = np.random.default_rng(seed)
    preds = np.full(len(x), -1, dtype=np.int64)
    radii = np.zeros(len(x), dtype=np.float64)
    for i in range(len(x)):
        c_a = int(_counts(target, x[i], n0, sigma, rng).argmax())
        n_a = int(_counts(target, x[i], n, sigma, rng)[c_a])
        p_a = clopper_pearson_lower(n_a, n, alpha)
        if p_a > 0.5:
            preds[i] = c_a
            radii[i] = sigma * float(norm.ppf(p_a))
    return CertificationResult(
        sigma=sigma,
        n0=n0,
        n=n,
        alpha=alpha,
        predictions=preds,
        radii=radii,
        labels=np.asarray(y, dtype=np.int64),
        queries=len(x) * (n0 + n),
        cpu_seconds=time.process_time() - t0,
    )
