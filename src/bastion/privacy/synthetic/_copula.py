"""A Gaussian-copula generator for mixed numerical and categorical tables (numpy/scipy).

Each column is mapped to a standard normal score: numerical columns through their empirical
CDF (kept as a grid of at most 1001 quantiles, not as the rows), categorical columns
through their frequency intervals of [0, 1) (a category takes a random point of its
interval, as SDV's frequency encoder does). The normal scores' correlation matrix is the
copula. Sampling draws multivariate normals, maps them back through each column's inverse
CDF (interpolated quantiles; integer columns rounded) or interval, and blanks cells with
each column's missing rate. It is a statistical model, not a privacy mechanism: the
privacy report and the ``privacy.synthetic`` gate say whether its output may leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from bastion.core.errors import InputError
from bastion.privacy.synthetic._table import Column, ColumnKind, Table

__all__ = ["GaussianCopula", "fit_copula"]

_GRID = 1001
_EPS = 1e-6
MAX_SAMPLE_ROWS = 5_000_000


@dataclass(frozen=True, eq=False)
class _Marginal:
    name: str
    kind: ColumnKind
    missing_rate: float
    quantiles: np.ndarray[Any, Any] | None = None  # numerical: values at _GRID probabilities
    integer: bool = False
    categories: tuple[str, ...] = ()
    cum: np.ndarray[Any, Any] | None = None  # categorical: interval upper ends

    def to_normal(self, col: Column, rng: np.random.Generator) -> np.ndarray[Any, Any]:
        """Normal scores of a column's present cells (missing cells score 0)."""
        z = np.zeros(col.values.shape[0])
        present = ~col.missing()
        if self.kind is ColumnKind.NUMERICAL:
            x = col.values[present].astype(float)
            order = stats.rankdata(x, method="average")
            u = (order - 0.5) / max(x.size, 1)
        else:
            assert self.cum is not None
            index = {c: i for i, c in enumerate(self.categories)}
            k = np.array([index[v] for v in col.values[present]], dtype=int)
            lo = np.concatenate([[0.0], self.cum[:-1]])[k]
            hi = self.cum[k]
            u = lo + (hi - lo) * rng.uniform(0.1, 0.9, k.size)
        z[present] = stats.norm.ppf(np.clip(u, _EPS, 1 - _EPS))
        return z

    def from_uniform(
        self, u: np.ndarray[Any, Any], rng: np.random.Generator
    ) -> np.ndarray[Any, Any]:
        miss = rng.random(u.size) < self.missing_rate
        if self.kind is ColumnKind.NUMERICAL:
            assert self.quantiles is not None
            grid = np.linspace(0.0, 1.0, self.quantiles.size)
            x: np.ndarray[Any, Any] = np.interp(u, grid, self.quantiles)
            if self.integer:
                x = np.round(x)
            x[miss] = np.nan
            return x
        assert self.cum is not None
        k = np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.categories) - 1)
        out = np.asarray(self.categories, dtype=object)[k]
        out[miss] = ""
        return out


@dataclass(frozen=True, eq=False)
class GaussianCopula:
    marginals: tuple[_Marginal, ...]
    correlation: np.ndarray[Any, Any]
    source: str = "table"

    def sample(self, n: int, *, rng: np.random.Generator | None = None) -> Table:
        if not (isinstance(n, int) and 1 <= n <= MAX_SAMPLE_ROWS):
            raise InputError(f"rows to generate must lie in [1, {MAX_SAMPLE_ROWS}]")
        g = rng if rng is not None else np.random.default_rng()
        d = len(self.marginals)
        z = g.multivariate_normal(np.zeros(d), self.correlation, size=n, method="eigh")
        u = stats.norm.cdf(z)
        cols = tuple(
            Column(m.name, m.kind, m.from_uniform(u[:, j], g), m.integer)
            for j, m in enumerate(self.marginals)
        )
        return Table(cols, n, f"synthetic({self.source})")


def _marginal(col: Column) -> _Marginal:
    miss = col.missing()
    rate = float(miss.mean())
    present = col.values[~miss]
    if present.size == 0:
        raise InputError(f"column {col.name[:200]!r} has no values to model")
    if col.kind is ColumnKind.NUMERICAL:
        q = np.quantile(present.astype(float), np.linspace(0.0, 1.0, min(_GRID, present.size + 1)))
        return _Marginal(col.name, col.kind, rate, quantiles=q, integer=col.integer)
    cats, counts = np.unique(present.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    cats, counts = cats[order], counts[order]
    cum = np.cumsum(counts) / counts.sum()
    cum[-1] = 1.0
    return _Marginal(col.name, col.kind, rate, categories=tuple(str(c) for c in cats), cum=cum)


def _nearest_correlation(c: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    c = np.nan_to_num((c + c.T) / 2, nan=0.0)
    np.fill_diagonal(c, 1.0)
    w, v = np.linalg.eigh(c)
    c = (v * np.maximum(w, 1e-8)) @ v.T
    dinv = 1.0 / np.sqrt(np.diag(c))
    out: np.ndarray[Any, Any] = c * dinv[:, None] * dinv[None, :]
    return out


def fit_copula(table: Table, *, rng: np.random.Generator | None = None) -> GaussianCopula:
    """Fit the copula to ``table`` (``rng``: the jitter inside category intervals)."""
    if table.n_rows < 2:
        raise InputError("a synthetic-data model needs at least 2 rows")
    g = rng if rng is not None else np.random.default_rng()
    margs = tuple(_marginal(c) for c in table.columns)
    z = np.column_stack([m.to_normal(c, g) for m, c in zip(margs, table.columns, strict=True)])
    d = z.shape[1]
    if d == 1:
        corr = np.ones((1, 1))
    else:
        sd = z.std(axis=0)
        zc = z - z.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = (zc.T @ zc) / z.shape[0] / np.outer(sd, sd)
        corr[~np.isfinite(corr)] = 0.0
        corr = _nearest_correlation(corr)
    return GaussianCopula(margs, corr, table.source)
