"""DP aggregates with Laplace or Gaussian noise and explicit clamping bounds.

A :class:`Query` is validated when it is made (epsilon above 0, delta in [0, 1) and above 0
for Gaussian noise, finite bounds with lower below upper, categories or bins for a
histogram); its :meth:`Query.mechanisms` are what the budget ledger composes, and
:func:`evaluate` draws the noise. Neighbouring datasets differ by adding or removing one
record. Values are clamped to ``[lower, upper]`` before anything is summed, so one record
moves a sum by at most ``max(|lower|, |upper|)``; the bounds must be public (chosen
without looking at the data), never derived from it. Quantiles are read from a noisy
histogram of ``bins`` equal-width bins over the bounds (post-processing: no extra budget).
"""

from __future__ import annotations

import enum
import functools
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bastion.core.errors import InputError
from bastion.privacy.dp._accounting import (
    Mechanism,
    MechanismKind,
    validate_delta,
    validate_epsilon,
)

__all__ = ["Aggregate", "DpResult", "Query", "evaluate", "make_query", "numeric_values"]

MAX_CATEGORIES = 1000
MAX_BINS = 10_000
MAX_QUANTILES = 100


class Aggregate(enum.StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    HISTOGRAM = "histogram"
    QUANTILES = "quantiles"


def _bound(v: object, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{name}: expected a number")
    f = float(v)
    if not math.isfinite(f):
        raise InputError(f"{name} must be a finite number")
    return f


@dataclass(frozen=True)
class Query:
    aggregate: Aggregate
    epsilon: float
    delta: float = 0.0
    noise: MechanismKind = MechanismKind.LAPLACE
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] = ()
    bins: int = 0
    quantiles: tuple[float, ...] = ()

    def _split(self) -> tuple[float, float]:
        """The (epsilon, delta) of each of the query's noise draws."""
        parts = 2 if self.aggregate is Aggregate.MEAN else 1
        return self.epsilon / parts, self.delta / parts

    def _multiplier(self) -> float:
        return self._noise_multiplier

    @functools.cached_property
    def _noise_multiplier(self) -> float:
        eps, delta = self._split()
        if self.noise is MechanismKind.LAPLACE:
            return 1.0 / eps
        from dp_accounting import gaussian_mechanism

        return float(gaussian_mechanism.get_sigma_gaussian(eps, delta))

    def sensitivity(self) -> float:
        """L1 = L2 sensitivity of the noised vector (each part of a mean on its own)."""
        if self.aggregate in (Aggregate.COUNT, Aggregate.HISTOGRAM, Aggregate.QUANTILES):
            return 1.0
        assert self.lower is not None
        assert self.upper is not None
        if self.aggregate is Aggregate.SUM:
            return max(abs(self.lower), abs(self.upper))
        return (self.upper - self.lower) / 2  # the centred sum of a mean

    def noise_scale(self) -> float:
        """Laplace b or Gaussian sigma of each noise draw (of the sum, for a mean)."""
        return self._multiplier() * self.sensitivity()

    def mechanisms(self) -> list[Mechanism]:
        parts = 2 if self.aggregate is Aggregate.MEAN else 1
        return [Mechanism(self.noise, self._multiplier()) for _ in range(parts)]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "aggregate": self.aggregate.value,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise": self.noise.value,
        }
        if self.lower is not None:
            d |= {"lower": self.lower, "upper": self.upper}
        if self.categories:
            d["categories"] = list(self.categories)
        if self.bins:
            d["bins"] = self.bins
        if self.quantiles:
            d["quantiles"] = list(self.quantiles)
        return d


def make_query(
    aggregate: Aggregate | str,
    *,
    epsilon: float,
    delta: float = 0.0,
    noise: MechanismKind | str = MechanismKind.LAPLACE,
    lower: float | None = None,
    upper: float | None = None,
    categories: Sequence[str] = (),
    bins: int | None = None,
    quantiles: Sequence[float] = (),
) -> Query:
    """A validated query; every mistake is an ``InputError`` that says how to fix it."""
    try:
        agg = Aggregate(aggregate)
    except ValueError:
        raise InputError(
            f"unknown aggregate {str(aggregate)[:40]!r}; use one of "
            + ", ".join(a.value for a in Aggregate)
        ) from None
    try:
        kind = MechanismKind(noise)
    except ValueError:
        raise InputError(f"unknown noise {str(noise)[:40]!r}; use laplace or gaussian") from None
    eps = validate_epsilon(epsilon)
    d = validate_delta(delta, positive=kind is MechanismKind.GAUSSIAN)
    if kind is MechanismKind.LAPLACE and d != 0:
        raise InputError("Laplace noise is pure epsilon-DP: leave delta at 0 or use gaussian")
    lo = hi = None
    needs_bounds = agg in (Aggregate.SUM, Aggregate.MEAN, Aggregate.QUANTILES) or (
        agg is Aggregate.HISTOGRAM and not categories
    )
    if needs_bounds:
        if lower is None or upper is None:
            raise InputError(
                f"a DP {agg.value} needs explicit clamping bounds (lower and upper), chosen "
                "without looking at the data"
            )
        lo, hi = _bound(lower, "lower"), _bound(upper, "upper")
        if lo >= hi:
            raise InputError(
                f"clamping bounds are reversed or empty: lower {lo:g} must be below upper {hi:g}"
            )
    elif lower is not None or upper is not None:
        raise InputError(f"a DP {agg.value} takes no clamping bounds")
    cats: tuple[str, ...] = ()
    nbins = 0
    if agg is Aggregate.HISTOGRAM:
        if categories:
            cats = tuple(dict.fromkeys(str(c) for c in categories))
            if len(cats) > MAX_CATEGORIES:
                raise InputError(f"more than {MAX_CATEGORIES} categories")
            if bins:
                raise InputError("a histogram takes categories or bins, not both")
        else:
            nbins = bins or 10
    elif agg is Aggregate.QUANTILES:
        nbins = bins or 256
    elif categories or bins:
        raise InputError(f"a DP {agg.value} takes no categories or bins")
    if nbins and not (1 <= nbins <= MAX_BINS):
        raise InputError(f"bins must lie in [1, {MAX_BINS}]")
    qs: tuple[float, ...] = ()
    if agg is Aggregate.QUANTILES:
        if not quantiles:
            raise InputError("a DP quantiles query needs the quantiles, e.g. 0.5 or 0.25,0.5,0.75")
        if len(quantiles) > MAX_QUANTILES:
            raise InputError(f"more than {MAX_QUANTILES} quantiles")
        qs = tuple(_bound(q, "quantile") for q in quantiles)
        if any(not 0 <= q <= 1 for q in qs):
            raise InputError("quantiles must lie in [0, 1]")
    elif quantiles:
        raise InputError(f"a DP {agg.value} takes no quantiles")
    return Query(agg, eps, d, kind, lo, hi, cats, nbins, qs)


def numeric_values(values: Sequence[object], column: str = "value") -> np.ndarray[Any, Any]:
    """Numbers from strings or numbers; empty cells and NaN are missing (dropped). Anything
    else is an ``InputError`` naming the row, never the value."""
    out = np.empty(len(values), dtype=float)
    keep = np.ones(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and not v.strip()):
            keep[i] = False
            continue
        if isinstance(v, bool):
            raise InputError(f"{column}: row {i + 1} is not a number")
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"{column}: row {i + 1} is not a number") from None
        if math.isnan(f):
            keep[i] = False
        elif math.isinf(f):
            raise InputError(f"{column}: row {i + 1} is not a finite number")
        out[i] = f
    return out[keep]


@dataclass(frozen=True)
class DpResult:
    query: Query
    value: Any
    noise_scale: float
    mechanisms: tuple[Mechanism, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.to_dict(),
            "value": self.value,
            "noise_scale": self.noise_scale,
        }


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    # Fresh OS entropy per release unless an in-process caller (a test) passes a generator.
    return rng if rng is not None else np.random.default_rng(secrets.randbits(128))


def _noise(q: Query, rng: np.random.Generator, size: int | None = None) -> Any:
    scale = q.noise_scale()
    if q.noise is MechanismKind.LAPLACE:
        return rng.laplace(0.0, scale, size)
    return rng.normal(0.0, scale, size)


def _noisy_histogram(
    q: Query, counts: np.ndarray[Any, Any], rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    noisy: np.ndarray[Any, Any] = np.maximum(counts + _noise(q, rng, counts.size), 0.0)
    return noisy


def evaluate(
    q: Query, values: Sequence[object], *, rng: np.random.Generator | None = None
) -> DpResult:
    """Run ``q`` over one column's ``values``. ``rng`` only for tests (fixed noise)."""
    g = _rng(rng)
    mechs = tuple(q.mechanisms())
    value: Any
    if q.aggregate is Aggregate.COUNT:
        n = sum(1 for v in values if not (v is None or (isinstance(v, str) and not v.strip())))
        value = max(0.0, n + float(_noise(q, g)))
    elif q.aggregate is Aggregate.HISTOGRAM and q.categories:
        index = {c: i for i, c in enumerate(q.categories)}
        counts = np.zeros(len(q.categories))
        for v in values:
            i = index.get("" if v is None else str(v))
            if i is not None:
                counts[i] += 1
        noisy = _noisy_histogram(q, counts, g)
        value = {c: float(noisy[i]) for c, i in index.items()}
    else:
        assert q.lower is not None
        assert q.upper is not None
        x = np.clip(numeric_values(values), q.lower, q.upper)
        if q.aggregate is Aggregate.SUM:
            value = float(x.sum() + _noise(q, g))
        elif q.aggregate is Aggregate.MEAN:
            mid = (q.lower + q.upper) / 2
            total = float((x - mid).sum() + _noise(q, g))
            # The count's sensitivity is 1: its own draw at the same multiplier.
            count = x.size + float(_noise(q, g)) / q.sensitivity()
            value = float(np.clip(mid + total / max(count, 1.0), q.lower, q.upper))
        else:
            edges = np.linspace(q.lower, q.upper, q.bins + 1)
            counts, _ = np.histogram(x, bins=edges)
            noisy = _noisy_histogram(q, counts.astype(float), g)
            if q.aggregate is Aggregate.HISTOGRAM:
                value = {
                    "edges": [float(e) for e in edges],
                    "counts": [float(c) for c in noisy],
                }
            else:
                value = _quantiles(q, edges, noisy)
    return DpResult(q, value, q.noise_scale(), mechs)


def _quantiles(
    q: Query, edges: np.ndarray[Any, Any], noisy: np.ndarray[Any, Any]
) -> dict[str, float]:
    cum = np.concatenate([[0.0], np.cumsum(noisy)])
    total = cum[-1]
    out: dict[str, float] = {}
    for p in q.quantiles:
        if total <= 0:
            out[f"{p:g}"] = float((edges[0] + edges[-1]) / 2)
            continue
        out[f"{p:g}"] = float(np.interp(p * total, cum, edges))
    return out
