"""Input distributions of the FAIR engine: beta-PERT, lognormal from a 90% CI, uniform, constant.

Each distribution samples from a numpy ``Generator`` (fast path) and also offers its
quantile function, so a Gaussian copula can drive it with correlated uniforms, and its CDF,
so vulnerability can be computed as P(TCap > RS) exactly rather than by a second draw.

Beta-PERT sampling is exact and table driven (``_BetaTable``): the unit interval is cut at
the beta's 1/1024 quantiles (scipy's ``betaincinv``), so a uniform's top bits pick an
interval of probability exactly 1/1024. Inside it the density is split into a flat part
(the density's minimum on the interval, taken with the probability it carries: 99.5% of
all draws) drawn uniformly from the uniform's remaining bits, and the rest (the density
minus that minimum) drawn by rejection under the interval's maximum. That is the beta
itself, not an approximation of it: no interpolation error, and the tails are as exact as
the middle. It costs about a quarter of a ratio of two gammas. Calls drawing fewer than
``_TABLE_MIN_DRAWS`` values keep the ratio of gammas (exact too; no table to build).
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass
from typing import Any, assert_never

import numpy as np
import numpy.typing as npt
from scipy import special  # type: ignore[import-untyped]

__all__ = ["Z95", "Dist", "DistKind"]

FloatArray = npt.NDArray[np.float64]
# The 95th percentile of the standard normal: a 90% CI spans mean +- Z95 sigma (in log space).
Z95 = 1.6448536269514722
_TABLE = 4096
# Beta-PERT sampling table: equal-probability intervals (a power of two, so that
# ``u * _SAMPLE_TABLE`` splits a uniform into interval and position without rounding).
# 1,024 intervals: built in ~1.6 ms (4,096: ~6 ms, for ~8% faster draws), flat part 99.5%.
_SAMPLE_TABLE = 1024
# Fewer draws than this use the ratio of gammas instead (no table to build), so a table
# is only built where it saves several times its cost: a request of many small scenarios
# cannot turn table building into its main cost. The engine applies it to the run's
# years (a scenario of 32,768 years or more samples every PERT from tables).
_TABLE_MIN_DRAWS = 32_768
# Rejection rounds for the residual part of an interval (candidates per round: see
# _BetaTable); each round leaves a value undrawn with probability below e^-2.
_MAX_ROUNDS = 200


class DistKind(enum.StrEnum):
    PERT = "pert"
    LOGNORMAL = "lognormal"
    UNIFORM = "uniform"
    CONSTANT = "constant"


@dataclass(frozen=True)
class Dist:
    """A validated distribution. ``a``/``b``/``c`` hold (min, mode, max), (p5, p95, -),
    (min, max, -) or (value, -, -); ``gamma`` is PERT's weight on the mode."""

    kind: DistKind
    a: float
    b: float = 0.0
    c: float = 0.0
    gamma: float = 4.0

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def constant(cls, value: float) -> Dist:
        return cls(DistKind.CONSTANT, float(value))

    @classmethod
    def pert(cls, low: float, mode: float, high: float, gamma: float = 4.0) -> Dist:
        return cls(DistKind.PERT, float(low), float(mode), float(high), float(gamma))

    @classmethod
    def lognormal(cls, p5: float, p95: float) -> Dist:
        return cls(DistKind.LOGNORMAL, float(p5), float(p95))

    @classmethod
    def uniform(cls, low: float, high: float) -> Dist:
        return cls(DistKind.UNIFORM, float(low), float(high))

    # -- parameters -----------------------------------------------------------------------

    @property
    def low(self) -> float:
        """Smallest value the distribution can take (lognormal: 0)."""
        if self.kind is DistKind.LOGNORMAL:
            return 0.0
        return self.a

    @property
    def high(self) -> float:
        """Largest value (lognormal: infinity)."""
        match self.kind:
            case DistKind.CONSTANT:
                return self.a
            case DistKind.PERT:
                return self.c
            case DistKind.UNIFORM:
                return self.b
            case DistKind.LOGNORMAL:
                return math.inf
            case _ as unreachable:
                assert_never(unreachable)

    def _pert_ab(self) -> tuple[float, float]:
        span = self.c - self.a
        return (
            1.0 + self.gamma * (self.b - self.a) / span,
            1.0 + self.gamma * (self.c - self.b) / span,
        )

    def _mu_sigma(self) -> tuple[float, float]:
        lo, hi = math.log(self.a), math.log(self.b)
        return (lo + hi) / 2.0, (hi - lo) / (2.0 * Z95)

    @property
    def degenerate(self) -> bool:
        return self.kind is DistKind.CONSTANT or (
            self.kind in (DistKind.PERT, DistKind.UNIFORM) and self.low == self.high
        )

    def mean(self) -> float:
        if self.degenerate:
            return self.a
        match self.kind:
            case DistKind.PERT:
                return (self.a + self.gamma * self.b + self.c) / (self.gamma + 2.0)
            case DistKind.UNIFORM:
                return (self.a + self.b) / 2.0
            case DistKind.LOGNORMAL:
                mu, sigma = self._mu_sigma()
                return math.exp(mu + sigma * sigma / 2.0)
            case DistKind.CONSTANT:  # pragma: no cover - handled by degenerate
                return self.a
            case _ as unreachable:
                assert_never(unreachable)

    def central(self) -> float:
        """The value a tornado holds an input at: its mean."""
        return self.mean()

    # -- sampling -------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator, n: int, *, table: bool | None = None) -> FloatArray:
        """``n`` independent draws. PERT: from the exact sampling table when ``table`` is
        true, as a ratio of gammas when false; by default the table from
        ``_TABLE_MIN_DRAWS`` draws up (the engine decides once per scenario instead)."""
        out: FloatArray
        if self.degenerate:
            return np.full(n, self.a, dtype=np.float64)
        match self.kind:
            case DistKind.PERT:
                al, be = self._pert_ab()
                if n >= _TABLE_MIN_DRAWS if table is None else table:
                    return _beta_table(al, be).sample(rng, n, self.a, self.c)
                # Few draws: the table would cost more to build than it saves. Beta as a
                # ratio of gammas, exact too (and ~1.5x faster than Generator.beta).
                out = rng.standard_gamma(al, n)
                den = rng.standard_gamma(be, n)
                den += out
                out /= den
                out *= self.c - self.a
                out += self.a
                return out
            case DistKind.UNIFORM:
                return rng.uniform(self.a, self.b, n)
            case DistKind.LOGNORMAL:
                mu, sigma = self._mu_sigma()
                out = rng.standard_normal(n)
                out *= sigma
                out += mu
                # As Generator.lognormal: an absurd range overflows to infinity, silently
                # here; the engine refuses a non-finite frequency with the fix.
                with np.errstate(over="ignore"):
                    np.exp(out, out=out)
                return out
            case DistKind.CONSTANT:  # pragma: no cover
                return np.full(n, self.a, dtype=np.float64)
            case _ as unreachable:
                assert_never(unreachable)

    def ppf(self, u: FloatArray) -> FloatArray:
        """Quantile function, vectorised: turns (correlated) uniforms into samples."""
        u = np.asarray(u, dtype=np.float64)
        if self.degenerate:
            return np.full(u.shape, self.a, dtype=np.float64)
        match self.kind:
            case DistKind.PERT:
                al, be = self._pert_ab()
                out: FloatArray = special.betaincinv(al, be, u) * (self.c - self.a) + self.a
                return out
            case DistKind.UNIFORM:
                return self.a + u * (self.b - self.a)
            case DistKind.LOGNORMAL:
                mu, sigma = self._mu_sigma()
                ln: FloatArray = np.exp(mu + sigma * special.ndtri(u))
                return ln
            case DistKind.CONSTANT:  # pragma: no cover
                return np.full(u.shape, self.a, dtype=np.float64)
            case _ as unreachable:
                assert_never(unreachable)

    def quantile(self, q: float) -> float:
        return float(self.ppf(np.array([q]))[0])

    def cdf(self, x: FloatArray) -> FloatArray:
        """P(X <= x), vectorised (a constant is a step at its value)."""
        x = np.asarray(x, dtype=np.float64)
        if self.degenerate:
            return (x >= self.a).astype(np.float64)
        match self.kind:
            case DistKind.PERT:
                z = np.clip((x - self.a) / (self.c - self.a), 0.0, 1.0)
                if z.size > _TABLE:
                    # The regularised incomplete beta costs ~270 ns a value; a 4,097-point
                    # table with linear interpolation is ~40x faster and within 1e-7.
                    table, slope = _cdf_table(*self._pert_ab())
                    pos = z * _TABLE
                    idx = np.minimum(pos.astype(np.intp), _TABLE - 1)
                    out: FloatArray = table[idx] + (pos - idx) * slope[idx]
                    return out
                al, be = self._pert_ab()
                exact: FloatArray = special.betainc(al, be, z)
                return exact
            case DistKind.UNIFORM:
                return np.clip((x - self.a) / (self.b - self.a), 0.0, 1.0)
            case DistKind.LOGNORMAL:
                mu, sigma = self._mu_sigma()
                with np.errstate(divide="ignore"):
                    lx = np.log(np.where(x > 0, x, 1.0))
                return np.where(x > 0, special.ndtr((lx - mu) / sigma), 0.0)
            case DistKind.CONSTANT:  # pragma: no cover
                return (x >= self.a).astype(np.float64)
            case _ as unreachable:
                assert_never(unreachable)

    def sf(self, x: FloatArray) -> FloatArray:
        """P(X > x) = 1 - cdf(x), vectorised; for PERT and many values, from the survival
        table directly (the engine's vulnerability P(TCap > RS) for a year of RS draws)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind is not DistKind.PERT or self.degenerate or x.size <= _TABLE:
            out: FloatArray = 1.0 - self.cdf(x)
            return out
        table, slope = _sf_table(*self._pert_ab())
        pos = x - self.a
        pos *= _TABLE / (self.c - self.a)
        np.clip(pos, 0.0, float(_TABLE), out=pos)
        idx = pos.astype(np.intp)
        np.minimum(idx, _TABLE - 1, out=idx)
        pos -= idx
        res: FloatArray = np.take(slope, idx)
        res *= pos
        res += np.take(table, idx)
        return res

    def to_dict(self) -> dict[str, Any]:
        match self.kind:
            case DistKind.CONSTANT:
                return {"dist": "constant", "value": self.a}
            case DistKind.PERT:
                return {
                    "dist": "pert",
                    "min": self.a,
                    "mode": self.b,
                    "max": self.c,
                    "gamma": self.gamma,
                }
            case DistKind.LOGNORMAL:
                return {"dist": "lognormal", "p5": self.a, "p95": self.b}
            case DistKind.UNIFORM:
                return {"dist": "uniform", "min": self.a, "max": self.b}
            case _ as unreachable:
                assert_never(unreachable)


class _BetaTable:
    """Exact sampler of Beta(al, be), al and be >= 1 (PERT's range), by equal-probability
    intervals; see the module docstring. Built once per shape (about 1.6 ms: 1,025 calls
    of ``betaincinv``) and shared by every PERT of that shape, whatever its min and max."""

    def __init__(self, al: float, be: float) -> None:
        t = _SAMPLE_TABLE
        self.al, self.be = al, be
        self._lbeta = float(special.betaln(al, be))
        x: FloatArray = special.betaincinv(al, be, np.arange(t + 1, dtype=np.float64) / t)
        x[0], x[-1] = 0.0, 1.0
        np.maximum.accumulate(x, out=x)  # monotone even where betaincinv rounds
        f = self.density(x)
        lo, hi = np.minimum(f[:-1], f[1:]), np.maximum(f[:-1], f[1:])
        # The density is unimodal: its maximum on an interval is at an end, or at the mode.
        if al + be > 2.0:
            mode = (al - 1.0) / (al + be - 2.0)
            i = int(np.searchsorted(x, mode, side="right")) - 1
            if 0 <= i < t:
                hi[i] = max(hi[i], float(self.density(np.array([mode]))[0]))
        width = np.diff(x)
        # The flat part's share of the interval (its mass is 1/t): min density x width x t.
        accept = np.clip(lo * width * t, 0.0, 1.0)
        self.x0: FloatArray = x[:-1].copy()
        self.width: FloatArray = width
        self.accept: FloatArray = accept
        self.lo: FloatArray = lo
        self.hi: FloatArray = hi
        # Flat part: x0 + width * (frac / accept), frac uniform on [0, accept).
        self.step: FloatArray = np.divide(width, accept, out=np.zeros(t), where=accept > 0)
        # Residual by rejection: a candidate's acceptance is the residual's mass over its
        # envelope's, about 1/2 inside and as low as 1/a in an outer interval where the
        # density goes to 0 (a up to 101). Candidates per value and round: a power of two
        # >= 2 / acceptance (at least 4), so a round leaves a value undrawn with
        # probability below e^-2, and all 200 rounds below e^-400.
        envelope = (hi - lo) * width * t
        rate = np.ones(t)
        np.divide(1.0 - accept, envelope, out=rate, where=envelope > 0)
        np.clip(rate, 1e-3, 1.0, out=rate)
        self.proposals: npt.NDArray[np.intp] = np.left_shift(
            1, np.clip(np.ceil(np.log2(2.0 / rate)), 2, 14).astype(np.intp)
        )
        for a in (self.x0, self.width, self.accept, self.lo, self.hi, self.step, self.proposals):
            a.setflags(write=False)  # shared by every sampler of this shape

    def density(self, z: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = np.exp(
                special.xlogy(self.al - 1.0, z) + special.xlog1py(self.be - 1.0, -z) - self._lbeta
            )
        return out

    @functools.lru_cache(maxsize=64)  # noqa: B019 - tables live as long as the cache
    def scaled(self, low: float, high: float) -> tuple[FloatArray, FloatArray]:
        span = high - low
        base, step = self.x0 * span + low, self.step * span
        base.setflags(write=False)
        step.setflags(write=False)
        return base, step

    def sample(self, rng: np.random.Generator, n: int, low: float, high: float) -> FloatArray:
        base, step = self.scaled(low, high)
        u: FloatArray = rng.random(n)
        u *= _SAMPLE_TABLE  # exact: a power of two
        out: FloatArray = np.floor(u)
        idx = out.astype(np.intp)  # the interval, each with probability 1/_SAMPLE_TABLE
        u -= out  # the position: uniform on [0, 1), independent of the interval
        # Indices are in range by construction: mode="clip" only skips numpy's bounds check.
        rest = np.flatnonzero(u >= np.take(self.accept, idx, mode="clip"))
        np.take(step, idx, out=out, mode="clip")
        out *= u
        out += np.take(base, idx, mode="clip")
        if rest.size:
            out[rest] = self._residual(rng, idx[rest]) * (high - low) + low
        np.minimum(out, high, out=out)  # the last interval's end, against rounding
        return out

    def _residual(self, rng: np.random.Generator, idx: npt.NDArray[np.intp]) -> FloatArray:
        """Draws from (density - its minimum) on each given interval, by rejection."""
        out = np.empty(idx.size, dtype=np.float64)
        k = self.proposals[idx]
        for size in np.unique(k).tolist():
            group = np.flatnonzero(k == size)
            out[group] = self._reject(rng, idx[group], int(size))
        return out

    def _reject(self, rng: np.random.Generator, idx: npt.NDArray[np.intp], size: int) -> FloatArray:
        out = np.empty(idx.size, dtype=np.float64)
        todo = np.arange(idx.size)
        for _ in range(_MAX_ROUNDS):
            # ``size`` candidates per value at once (few numpy calls per round); each value
            # takes its first accepted one, which is a plain rejection sampler.
            i = np.repeat(idx[todo], size)
            z = self.x0[i] + self.width[i] * rng.random(i.size)
            lo = self.lo[i]
            ok = (rng.random(i.size) * (self.hi[i] - lo) <= self.density(z) - lo).reshape(
                todo.size, size
            )
            first = ok.argmax(axis=1)
            got = ok[np.arange(todo.size), first]
            out[todo[got]] = z.reshape(todo.size, size)[got, first[got]]
            todo = todo[~got]
            if not todo.size:
                return out
        # Left after every round: probability below e^-400, or a density flat to rounding
        # (candidates at its minimum refused by the last bit), where flat is its shape.
        i = idx[todo]  # pragma: no cover
        out[todo] = self.x0[i] + self.width[i] * rng.random(todo.size)  # pragma: no cover
        return out  # pragma: no cover


@functools.lru_cache(maxsize=64)
def _cdf_table(al: float, be: float) -> tuple[FloatArray, FloatArray]:
    table: FloatArray = special.betainc(al, be, np.linspace(0.0, 1.0, _TABLE + 1))
    table.setflags(write=False)
    slope = np.diff(table)
    slope.setflags(write=False)
    return table, slope


@functools.lru_cache(maxsize=64)
def _sf_table(al: float, be: float) -> tuple[FloatArray, FloatArray]:
    table, slope = _cdf_table(al, be)
    sf: FloatArray = 1.0 - table
    sf.setflags(write=False)
    neg: FloatArray = -slope
    neg.setflags(write=False)
    return sf, neg


@functools.lru_cache(maxsize=64)
def _beta_table(al: float, be: float) -> _BetaTable:
    return _BetaTable(al, be)
