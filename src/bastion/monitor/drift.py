"""Drift detection with cached reference statistics, batch and streaming.

A :class:`ReferenceProfile` is built once from reference data: per numeric feature the bin
edges (reference quantiles) and bin proportions, and a reservoir sample of its values; per
categorical feature its category counts. Comparing current data costs one
``searchsorted`` per numeric column (PSI, Jensen-Shannon) and a Kolmogorov-Smirnov test on
a sample; categories get a chi-square test of homogeneity. The p-values of all features are
corrected together (Benjamini-Hochberg); a feature has drifted when its corrected p-value
is below ``alpha`` *and* its PSI reaches ``psi_threshold`` (on large windows every tiny
shift is significant; the effect size keeps those from alerting).

Prediction and confidence drift are the same tests on the columns given those roles.
:class:`StreamingDrift` updates window statistics per request (a bisect and a reservoir
step per feature), closes windows by count or time, and raises and clears alerts with
hysteresis (:class:`AlertPolicy`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats  # type: ignore[import-untyped]

from bastion.core.errors import InputError
from bastion.monitor.interface import DetectionFinding, ModelRef, Severity

__all__ = [
    "AlertPolicy",
    "CategoricalReference",
    "DriftAlert",
    "DriftReport",
    "FeatureDrift",
    "NumericReference",
    "ReferenceProfile",
    "StreamingDrift",
    "alert_finding",
    "benjamini_hochberg",
    "jensen_shannon",
    "psi",
]

Role = Literal["feature", "prediction", "confidence"]
OTHER = "__other__"
MAX_CATEGORIES = 200
MAX_FEATURES = 1000
_EPS = 1e-4


def _smooth(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    p = counts / max(float(counts.sum()), 1.0)
    p = np.maximum(p, _EPS)
    return np.asarray(p / p.sum(), dtype=np.float64)


def psi(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> float:
    """Population stability index of two proportion vectors (smoothed: no empty bin)."""
    p, q = _smooth(cur), _smooth(ref)
    return float(np.sum((p - q) * np.log(p / q)))


def jensen_shannon(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two count or proportion vectors."""
    p = cur / max(float(cur.sum()), 1e-300)
    q = ref / max(float(ref.sum()), 1e-300)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kq = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max(0.5 * kp + 0.5 * kq, 0.0)))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (same order as given)."""
    m = len(pvalues)
    if m == 0:
        return []
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return [float(v) for v in out]


@dataclass(frozen=True)
class NumericReference:
    """Cached statistics of a numeric reference column."""

    name: str
    edges: tuple[float, ...]  # inner bin edges (len = bins - 1)
    counts: tuple[float, ...]  # reference counts per bin
    sample: NDArray[np.float64]  # reservoir sample of reference values (sorted)
    n: int
    missing: int
    role: Role = "feature"
    kind: Literal["numeric"] = "numeric"

    def proportions(self) -> NDArray[np.float64]:
        return np.asarray(self.counts, dtype=np.float64)


@dataclass(frozen=True)
class CategoricalReference:
    """Cached category counts of a categorical reference column (rare ones as ``__other__``)."""

    name: str
    categories: tuple[str, ...]  # the last one is OTHER
    counts: tuple[float, ...]
    n: int
    missing: int
    role: Role = "feature"
    kind: Literal["categorical"] = "categorical"

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.categories)}


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    role: Role
    kind: str
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    p_adjusted: float
    psi: float
    js: float
    drifted: bool
    n_current: int
    missing_current: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "role": self.role, "kind": self.kind, "test": self.test,
            "statistic": self.statistic, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
            "psi": self.psi, "js": self.js, "drifted": self.drifted,
            "n_current": self.n_current, "missing_current": self.missing_current,
        }  # fmt: skip


@dataclass(frozen=True)
class DriftAlert:
    """An alert transition: ``raised`` or ``cleared`` for one feature."""

    feature: str
    role: Role
    state: Literal["raised", "cleared"]
    psi: float
    window: int


@dataclass(frozen=True)
class DriftReport:
    features: tuple[FeatureDrift, ...]
    alpha: float
    psi_threshold: float
    n_reference: int
    n_current: int
    window: int = 0
    alerts: tuple[DriftAlert, ...] = ()

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    def _role_drift(self, role: str) -> bool:
        return any(f.drifted for f in self.features if f.role == role)

    @property
    def prediction_drift(self) -> bool:
        return self._role_drift("prediction")

    @property
    def confidence_drift(self) -> bool:
        return self._role_drift("confidence")

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "psi_threshold": self.psi_threshold,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "window": self.window,
            "drifted": list(self.drifted),
            "prediction_drift": self.prediction_drift,
            "confidence_drift": self.confidence_drift,
            "features": [f.to_dict() for f in self.features],
            "alerts": [a.__dict__ for a in self.alerts],
        }


def _numeric(values: Any, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"column {name[:64]!r}: not numeric") from None
    if arr.ndim != 1:
        raise InputError(f"column {name[:64]!r}: expected one dimension")
    return arr


Reference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class ReferenceProfile:
    """Reference statistics of every monitored column (features, prediction, confidence)."""

    columns: Mapping[str, Reference]
    alpha: float = 0.05
    psi_threshold: float = 0.1
    sample_size: int = 5000

    @classmethod
    def build(
        cls,
        data: Mapping[str, Any],
        *,
        categorical: Sequence[str] = (),
        roles: Mapping[str, Role] | None = None,
        bins: int = 10,
        sample_size: int = 5000,
        alpha: float = 0.05,
        psi_threshold: float = 0.1,
        seed: int = 0,
    ) -> ReferenceProfile:
        """Profile ``data`` (column name -> values). Columns named in ``categorical``, or
        holding strings, are categorical; ``roles`` marks the prediction and confidence
        columns."""
        if not 2 <= bins <= 100:
            raise InputError("bins: must lie in 2-100")
        if not 0 < alpha < 1:
            raise InputError("alpha: must lie in (0, 1)")
        if not 100 <= sample_size <= 1_000_000:
            raise InputError("sample_size: must lie in 100-1,000,000")
        if not 0 <= psi_threshold <= 10:
            raise InputError("psi_threshold: must lie in [0, 10]")
        if not data:
            raise InputError("reference: no columns")
        if len(data) > MAX_FEATURES:
            raise InputError(f"reference: more than {MAX_FEATURES} columns")
        roles = dict(roles or {})
        for col in roles:
            if col not in data:
                raise InputError(f"column {col[:64]!r} is not in the reference data")
        rng = np.random.default_rng(seed)
        cols: dict[str, Reference] = {}
        for name, values in data.items():
            role: Role = roles.get(name, "feature")
            if name in categorical or _is_text(values):
                cols[name] = _build_categorical(name, values, role)
            else:
                cols[name] = _build_numeric(name, values, role, bins, sample_size, rng)
        return cls(cols, alpha=alpha, psi_threshold=psi_threshold, sample_size=sample_size)

    def digest(self) -> str:
        """sha256 of the cached statistics (edges, counts, categories, thresholds): what a
        window is compared with."""
        cols = []
        for r in self.columns.values():
            if isinstance(r, NumericReference):
                cols.append([r.name, r.role, "numeric", list(r.edges), list(r.counts),
                             hashlib.sha256(r.sample.tobytes()).hexdigest()])  # fmt: skip
            else:
                cols.append([r.name, r.role, "categorical", list(r.categories), list(r.counts)])
        body = json.dumps(
            [cols, self.alpha, self.psi_threshold, self.sample_size], separators=(",", ":")
        )
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    def compare(self, data: Mapping[str, Any], *, seed: int = 1) -> DriftReport:
        """Compare current data (same columns) with the reference."""
        missing = [c for c in self.columns if c not in data]
        if missing:
            raise InputError(
                f"current data lacks column(s): {', '.join(m[:64] for m in missing[:5])}"
            )
        rng = np.random.default_rng(seed)
        raw: list[tuple[Reference, NDArray[np.float64], float, float, int, int, float]] = []
        n_cur = 0
        for name, ref in self.columns.items():
            if isinstance(ref, NumericReference):
                arr = _numeric(data[name], name)
                ok = arr[~np.isnan(arr)]
                counts = np.bincount(
                    np.searchsorted(np.asarray(ref.edges), ok, side="right"),
                    minlength=len(ref.counts),
                ).astype(np.float64)
                sample = (
                    ok
                    if ok.size <= self.sample_size
                    else rng.choice(ok, self.sample_size, replace=False)
                )
                stat, p = _ks(ref.sample, sample)
                raw.append((ref, counts, stat, p, int(ok.size), int(arr.size - ok.size), 0.0))
                n_cur = max(n_cur, int(arr.size))
            else:
                counts, n_missing = _cat_counts(ref, data[name])
                stat, p = _chi2(np.asarray(ref.counts), counts)
                n_ok = int(counts.sum())
                raw.append((ref, counts, stat, p, n_ok, n_missing, 0.0))
                n_cur = max(n_cur, n_ok + n_missing)
        return self._report(raw, n_cur, 0, ())

    def _report(
        self,
        raw: Sequence[tuple[Reference, NDArray[np.float64], float, float, int, int, float]],
        n_cur: int,
        window: int,
        alerts: tuple[DriftAlert, ...],
    ) -> DriftReport:
        # A change in the share of missing values is drift too (a feed that stops sending
        # a field): when either side has missing values, the column's p-value is the
        # Bonferroni-combined minimum of its distribution test and a chi-square test of
        # the missing share, and PSI/JS count missing values as one more bin.
        pvals = []
        for ref, _counts, _stat, p, n_ok, n_missing, _ in raw:
            if ref.missing or n_missing:
                table = np.array([[ref.n, ref.missing], [n_ok, n_missing]], dtype=np.float64)
                _, p_miss = _chi2(table[0], table[1])
                p = min(1.0, 2 * min(p, p_miss))
            pvals.append(p)
        adjusted = benjamini_hochberg(pvals)
        feats = []
        for (ref, counts, stat, _p, n_ok, n_missing, _), p, q in zip(
            raw, pvals, adjusted, strict=True
        ):
            ref_counts = np.asarray(ref.counts, dtype=np.float64)
            cur_counts = counts
            if ref.missing or n_missing:
                ref_counts = np.append(ref_counts, float(ref.missing))
                cur_counts = np.append(counts, float(n_missing))
            seen = n_ok + n_missing
            v_psi = psi(ref_counts, cur_counts) if seen else 0.0
            v_js = jensen_shannon(ref_counts, cur_counts) if seen else 0.0
            feats.append(
                FeatureDrift(
                    name=ref.name,
                    role=ref.role,
                    kind=ref.kind,
                    test="ks" if ref.kind == "numeric" else "chi2",
                    statistic=float(stat),
                    p_value=float(p),
                    p_adjusted=q,
                    psi=v_psi,
                    js=v_js,
                    drifted=bool(seen and q < self.alpha and v_psi >= self.psi_threshold),
                    n_current=n_ok,
                    missing_current=n_missing,
                )
            )
        n_ref = max((r.n + r.missing for r in self.columns.values()), default=0)
        return DriftReport(
            tuple(feats), self.alpha, self.psi_threshold, n_ref, n_cur, window, alerts
        )


def _is_text(values: Any) -> bool:
    arr = np.asarray(values[:1000] if hasattr(values, "__getitem__") else list(values)[:1000])
    return arr.dtype.kind in ("U", "S", "O") and any(isinstance(v, str) for v in arr.tolist())


def _build_numeric(
    name: str, values: Any, role: Role, bins: int, sample_size: int, rng: np.random.Generator
) -> NumericReference:
    arr = _numeric(values, name)
    ok = arr[~np.isnan(arr)]
    if ok.size < 2:
        raise InputError(f"reference column {name[:64]!r}: fewer than 2 numeric values")
    if not np.isfinite(ok).all():
        raise InputError(f"reference column {name[:64]!r}: holds infinite values")
    qs = np.quantile(ok, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    counts = np.bincount(np.searchsorted(edges, ok, side="right"), minlength=edges.size + 1)
    sample = ok if ok.size <= sample_size else rng.choice(ok, sample_size, replace=False)
    return NumericReference(
        name, tuple(float(e) for e in edges), tuple(float(c) for c in counts),
        np.sort(sample), int(ok.size), int(arr.size - ok.size), role,
    )  # fmt: skip


def _build_categorical(name: str, values: Any, role: Role) -> CategoricalReference:
    counts, missing = _count(values)
    if not counts:
        raise InputError(f"reference column {name[:64]!r}: no values")
    top = sorted(counts, key=lambda c: (-counts[c], c))[: MAX_CATEGORIES - 1]
    other = sum(counts.values()) - sum(counts[c] for c in top)
    return CategoricalReference(
        name, (*top, OTHER), (*(float(counts[c]) for c in top), float(other)),
        sum(counts.values()), missing, role,
    )  # fmt: skip


def _count(values: Any) -> tuple[dict[str, int], int]:
    """Category counts (keys as strings) and the number of missing values (None, NaN)."""
    raw = Counter(values.tolist() if isinstance(values, np.ndarray) else values)
    counts: dict[str, int] = {}
    missing = 0
    for v, n in raw.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            missing += n
        else:
            k = v if isinstance(v, str) else str(v)
            counts[k] = counts.get(k, 0) + n
    return counts, missing


def _cat_counts(ref: CategoricalReference, values: Any) -> tuple[NDArray[np.float64], int]:
    idx = ref.index()
    other = len(ref.categories) - 1
    out = np.zeros(len(ref.categories))
    counts, missing = _count(values)
    for v, n in counts.items():
        out[idx.get(v, other)] += n
    return out, missing


def _ks(ref_sample: NDArray[np.float64], sample: NDArray[np.float64]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: the statistic exactly, the p-value from the
    asymptotic Kolmogorov distribution at ``sqrt(n1 n2 / (n1 + n2)) D`` (``ref_sample`` is
    sorted already)."""
    if sample.size < 2 or ref_sample.size < 2:
        return 0.0, 1.0
    cur = np.sort(sample)
    both = np.concatenate([ref_sample, cur])
    d = float(
        np.max(
            np.abs(
                np.searchsorted(ref_sample, both, side="right") / ref_sample.size
                - np.searchsorted(cur, both, side="right") / cur.size
            )
        )
    )
    en = ref_sample.size * cur.size / (ref_sample.size + cur.size)
    return d, float(special.kolmogorov(math.sqrt(en) * d))


def _chi2(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> tuple[float, float]:
    keep = (ref + cur) > 0
    if cur.sum() == 0 or keep.sum() < 2:
        return 0.0, 1.0
    table = np.vstack([ref[keep], cur[keep]])
    r = stats.chi2_contingency(table, correction=False)
    return float(r.statistic), float(r.pvalue)


@dataclass(frozen=True)
class AlertPolicy:
    """Hysteresis: an alert is raised after ``raise_after`` consecutive drifted windows and
    cleared after ``clear_after`` consecutive windows whose PSI is below ``clear_psi`` (a
    window in between keeps the alert as it is, so it does not flap)."""

    raise_after: int = 2
    clear_after: int = 2
    clear_psi: float = 0.05

    def __post_init__(self) -> None:
        if self.raise_after < 1 or self.clear_after < 1:
            raise InputError("alert policy: raise_after and clear_after must be at least 1")


@dataclass
class _Window:
    # per numeric column: (name, edges, counts, sample, state [seen, next, w, missing])
    num: list[tuple[str, list[float], list[float], list[float], list[float]]]
    # per categorical column: (name, index, counts, state [missing])
    cat: list[tuple[str, dict[str, int], list[float], list[int]]]
    n: int = 0
    start: float = 0.0


@dataclass
class StreamingDrift:
    """Per-request drift statistics over windows of ``window_size`` requests or
    ``window_seconds`` seconds (either or both; a window closes at whichever comes first).
    :meth:`update` returns the report of a window it closed (else None).

    Per request and numeric column: one bisect on the cached edges and one step of a
    reservoir sample (Algorithm L: a comparison per value, a random draw only when a value
    enters the sample); per categorical column a dictionary look-up."""

    profile: ReferenceProfile
    window_size: int | None = 1000
    window_seconds: float | None = None
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    clock: Callable[[], float] = time.monotonic
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_size is None and self.window_seconds is None:
            raise InputError("streaming drift: give a window size, a window length, or both")
        if self.window_size is not None and self.window_size < 10:
            raise InputError("window_size: at least 10 requests")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise InputError("window_seconds: must be positive")
        self._refs = list(self.profile.columns.values())
        self._names = [r.name for r in self._refs]
        self._rng = random.Random(self.seed)
        self._k = self.profile.sample_size
        self._active = dict.fromkeys(self._names, False)
        self._streak = dict.fromkeys(self._names, 0)
        self._calm = dict.fromkeys(self._names, 0)
        self.windows = 0
        self._w = self._new_window()

    def _new_window(self) -> _Window:
        num: list[tuple[str, list[float], list[float], list[float], list[float]]] = []
        cat: list[tuple[str, dict[str, int], list[float], list[int]]] = []
        for r in self._refs:
            if isinstance(r, NumericReference):
                num.append((r.name, list(r.edges), [0.0] * len(r.counts), [], [0, 0, 0.0, 0]))
            else:
                cat.append((r.name, r.index(), [0.0] * len(r.counts), [0]))
        return _Window(num, cat, start=self.clock())

    def _skip(self, st: list[float]) -> None:
        """Algorithm L: the next position at which a value enters the full reservoir."""
        rnd = self._rng.random
        st[2] *= math.exp(math.log(rnd() or 1e-300) / self._k)
        st[1] += math.floor(math.log(rnd() or 1e-300) / math.log1p(-st[2])) + 1

    def update(self, row: Mapping[str, Any]) -> DriftReport | None:
        """Account one request (column name -> value; absent or None counts as missing)."""
        report: DriftReport | None = None
        w = self._w
        if (
            self.window_seconds is not None
            and w.n
            and self.clock() - w.start >= self.window_seconds
        ):
            report = self.close_window()
            w = self._w
        get = row.get
        k = self._k
        for name, edges, counts, sample, st in w.num:
            v = get(name)
            if v is None:
                st[3] += 1
                continue
            if type(v) is not float:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    st[3] += 1
                    continue
            if v != v or v in (math.inf, -math.inf):  # NaN, infinities: missing
                st[3] += 1
                continue
            counts[bisect.bisect_right(edges, v)] += 1
            seen = st[0] = st[0] + 1
            if seen <= k:
                sample.append(v)
                if seen == k:
                    st[1], st[2] = k, 1.0
                    self._skip(st)
            elif seen == st[1]:
                sample[self._rng.randrange(k)] = v
                self._skip(st)
        for name, idx, counts, cst in w.cat:
            v = get(name)
            if v is None:
                cst[0] += 1
                continue
            counts[idx.get(v if type(v) is str else str(v), len(counts) - 1)] += 1
        w.n += 1
        if self.window_size is not None and w.n >= self.window_size:
            return self.close_window()
        return report

    def tick(self) -> DriftReport | None:
        """Close a time window that has run out without a request to close it."""
        if (
            self.window_seconds is not None
            and self._w.n
            and self.clock() - self._w.start >= self.window_seconds
        ):
            return self.close_window()
        return None

    def close_window(self) -> DriftReport | None:
        w = self._w
        self._w = self._new_window()
        if w.n == 0:
            return None
        self.windows += 1
        nums = {t[0]: t for t in w.num}
        cats = {t[0]: t for t in w.cat}
        raw = []
        for ref in self._refs:
            if isinstance(ref, NumericReference):
                _, _, c, sample, st = nums[ref.name]
                counts = np.asarray(c, dtype=np.float64)
                stat, p = _ks(ref.sample, np.asarray(sample, dtype=np.float64))
                missing = int(st[3])
            else:
                _, _, c, cst = cats[ref.name]
                counts = np.asarray(c, dtype=np.float64)
                stat, p = _chi2(np.asarray(ref.counts), counts)
                missing = cst[0]
            raw.append((ref, counts, stat, p, int(counts.sum()), missing, 0.0))
        report = self.profile._report(raw, w.n, self.windows, ())
        alerts = tuple(self._hysteresis(report))
        return DriftReport(
            report.features,
            report.alpha,
            report.psi_threshold,
            report.n_reference,
            report.n_current,
            report.window,
            alerts,
        )

    def _hysteresis(self, report: DriftReport) -> list[DriftAlert]:
        out = []
        pol = self.alerts
        for f in report.features:
            if f.drifted:
                self._streak[f.name] += 1
                self._calm[f.name] = 0
            elif f.psi < pol.clear_psi:
                self._calm[f.name] += 1
                self._streak[f.name] = 0
            else:
                self._streak[f.name] = 0
                self._calm[f.name] = 0
            if not self._active[f.name] and self._streak[f.name] >= pol.raise_after:
                self._active[f.name] = True
                out.append(DriftAlert(f.name, f.role, "raised", f.psi, report.window))
            elif self._active[f.name] and self._calm[f.name] >= pol.clear_after:
                self._active[f.name] = False
                out.append(DriftAlert(f.name, f.role, "cleared", f.psi, report.window))
        return out

    @property
    def active_alerts(self) -> tuple[str, ...]:
        return tuple(n for n, a in self._active.items() if a)


def alert_finding(
    alert: DriftAlert, *, model: ModelRef | None = None, time_ms: int | None = None
) -> DetectionFinding:
    """The OCSF Detection Finding of an alert transition: ``raised`` opens a finding
    (medium for a feature, high for prediction or confidence drift), ``cleared`` closes it
    (same ``finding_uid``, so a SIEM pairs them)."""
    raised = alert.state == "raised"
    sev = Severity.MEDIUM if alert.role == "feature" else Severity.HIGH
    return DetectionFinding(
        title=f"{alert.role} drift on {alert.feature}",
        finding_uid=f"drift:{model.name if model else '-'}:{alert.feature}",
        severity=sev if raised else Severity.INFORMATIONAL,
        analytic="bastion.monitor.drift",
        model=model,
        activity="create" if raised else "close",
        evidence={"feature": alert.feature, "role": alert.role, "psi": alert.psi,
                  "window": alert.window, "state": alert.state},
        time_ms=time_ms,
    )  # fmt: skip
