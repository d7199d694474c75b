"""Fidelity and privacy reports of a synthetic table against the real one.

Fidelity follows SDMetrics' single-table quality report: *column shapes* (KSComplement,
1 - the two-sample Kolmogorov-Smirnov statistic, for numerical columns; TVComplement,
1 - total variation distance of the category frequencies, for categorical ones) and
*column pair trends* (CorrelationSimilarity, 1 - |Pearson_real - Pearson_synth| / 2, for two
numerical columns; ContingencySimilarity, 1 - total variation distance of the joint
frequencies, for any pair with a categorical column, numerical ones binned in 10 bins of
the real data's range). The score is the mean of the two properties. A verbatim copy of
the real data scores 1.0: fidelity alone says nothing about privacy.

Privacy: the *exact-copy rate* (synthetic rows equal to a real training row); the
*distance to closest record* (DCR) of each synthetic row to the training rows and to a
holdout the generator never saw (numbers scaled by the real range, categories 0/1); the
*too-close rate*, synthetic rows nearer to a training row than the 5th percentile of
holdout-to-training distances (about 5% for a generator that does not memorise); the share
of synthetic rows nearer to training than to holdout (about 0.5); and a distance-based
*membership-inference* attack: score each training and holdout record by its distance to
the nearest synthetic row and report the attack's AUC (0.5: no better than chance).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from bastion.core.errors import InputError
from bastion.privacy.synthetic._table import Column, ColumnKind, Table

__all__ = ["FidelityReport", "PrivacyReport", "fidelity_report", "privacy_report"]

MAX_PAIRS = 2000
PRIVACY_SAMPLE = 3000
_BINS = 10


def _aligned(real: Table, synth: Table) -> list[tuple[Column, Column]]:
    if real.names != synth.names:
        raise InputError("the synthetic table must have the real table's columns, in order")
    out = []
    for r, s in zip(real.columns, synth.columns, strict=True):
        if r.kind is not s.kind:
            raise InputError(f"column {r.name[:200]!r} is {r.kind.value} in the real table only")
        out.append((r, s))
    return out


def _tv(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    ca, na = np.unique(a.astype(str), return_counts=True)
    cb, nb = np.unique(b.astype(str), return_counts=True)
    pa = dict(zip(ca.tolist(), (na / max(na.sum(), 1)).tolist(), strict=True))
    pb = dict(zip(cb.tolist(), (nb / max(nb.sum(), 1)).tolist(), strict=True))
    return float(0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in set(pa) | set(pb)))


def _shape(r: Column, s: Column) -> tuple[str, float]:
    rv, sv = r.values[~r.missing()], s.values[~s.missing()]
    if rv.size == 0 or sv.size == 0:
        return ("KSComplement" if r.kind is ColumnKind.NUMERICAL else "TVComplement"), 0.0
    if r.kind is ColumnKind.NUMERICAL:
        ks = stats.ks_2samp(rv.astype(float), sv.astype(float)).statistic
        return "KSComplement", float(1.0 - ks)
    return "TVComplement", 1.0 - _tv(rv, sv)


def _discrete(c: Column, ref: Column, keep: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if c.kind is ColumnKind.CATEGORICAL:
        cat: np.ndarray[Any, Any] = c.values[keep].astype(str)
        return cat
    rv = ref.values[~ref.missing()].astype(float)
    edges = np.histogram_bin_edges(rv, bins=_BINS)
    out: np.ndarray[Any, Any] = np.digitize(
        np.clip(c.values[keep].astype(float), edges[0], edges[-1]), edges[1:-1]
    ).astype(str)
    return out


def _pair(r1: Column, r2: Column, s1: Column, s2: Column) -> tuple[str, float]:
    rk = ~(r1.missing() | r2.missing())
    sk = ~(s1.missing() | s2.missing())
    if rk.sum() < 2 or sk.sum() < 2:
        return "CorrelationSimilarity", 0.0
    if r1.kind is ColumnKind.NUMERICAL and r2.kind is ColumnKind.NUMERICAL:

        def corr(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
            if a.std() == 0 or b.std() == 0:
                return 0.0
            return float(np.corrcoef(a, b)[0, 1])

        cr = corr(r1.values[rk].astype(float), r2.values[rk].astype(float))
        cs = corr(s1.values[sk].astype(float), s2.values[sk].astype(float))
        return "CorrelationSimilarity", 1.0 - abs(cr - cs) / 2
    a = np.char.add(np.char.add(_discrete(r1, r1, rk).astype(str), "\x1f"), _discrete(r2, r2, rk))
    b = np.char.add(np.char.add(_discrete(s1, r1, sk).astype(str), "\x1f"), _discrete(s2, r2, sk))
    return "ContingencySimilarity", 1.0 - _tv(a, b)


@dataclass(frozen=True)
class FidelityReport:
    score: float
    column_shapes: float
    column_pair_trends: float
    columns: dict[str, dict[str, Any]]
    pairs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "column_shapes": self.column_shapes,
            "column_pair_trends": self.column_pair_trends,
            "columns": self.columns,
            "pairs": self.pairs,
        }


def fidelity_report(real: Table, synth: Table) -> FidelityReport:
    cols = _aligned(real, synth)
    shapes = {}
    for r, s in cols:
        metric, score = _shape(r, s)
        shapes[r.name] = {"metric": metric, "score": score}
    pairs = []
    for (r1, s1), (r2, s2) in itertools.islice(itertools.combinations(cols, 2), MAX_PAIRS):
        metric, score = _pair(r1, r2, s1, s2)
        pairs.append({"columns": [r1.name, r2.name], "metric": metric, "score": score})
    cs = float(np.mean([v["score"] for v in shapes.values()]))
    pt = float(np.mean([p["score"] for p in pairs])) if pairs else cs
    return FidelityReport((cs + pt) / 2, cs, pt, shapes, pairs)


def _encode(t: Table, ref: Table) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Numerical part (scaled to the real range, missing as -1) and categorical codes."""
    nums, cats = [], []
    for c, rc in zip(t.columns, ref.columns, strict=True):
        if c.kind is ColumnKind.NUMERICAL:
            rv = rc.values[~rc.missing()].astype(float)
            lo, hi = (float(rv.min()), float(rv.max())) if rv.size else (0.0, 1.0)
            x = (c.values.astype(float) - lo) / ((hi - lo) or 1.0)
            nums.append(np.where(np.isnan(x), -1.0, x))
        else:
            cats.append(c.values.astype(str))
    num = np.column_stack(nums) if nums else np.zeros((t.n_rows, 0))
    if cats:
        allv = np.unique(np.concatenate([np.column_stack(cats).ravel()]))
        code = {v: i for i, v in enumerate(allv.tolist())}
        cat = np.vectorize(lambda v: code.get(v, -1))(np.column_stack(cats)).astype(np.int64)
    else:
        cat = np.zeros((t.n_rows, 0), dtype=np.int64)
    return num, cat


def _nearest(
    a: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    b: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    *,
    exclude_self: bool = False,
) -> np.ndarray[Any, Any]:
    """For each row of ``a``, the distance to its nearest row of ``b``."""
    an, ac = a
    bn, bc = b
    out = np.empty(an.shape[0])
    # Rows per block so one block's distance tensor stays near 160 MB.
    step = max(1, int(2e7 // max(1, bn.shape[0] * (bn.shape[1] + bc.shape[1]))))
    for start in range(0, an.shape[0], step):
        sl = slice(start, start + step)
        d2 = ((an[sl, None, :] - bn[None, :, :]) ** 2).sum(axis=2)
        d2 += (ac[sl, None, :] != bc[None, :, :]).sum(axis=2)
        if exclude_self:
            idx = np.arange(start, min(start + step, an.shape[0]))
            d2[np.arange(idx.size), idx] = np.inf
        out[sl] = np.sqrt(d2.min(axis=1))
    return out


def _auc(pos: np.ndarray[Any, Any], neg: np.ndarray[Any, Any]) -> float:
    """P(score of a member > score of a non-member), ties half (Mann-Whitney)."""
    if pos.size == 0 or neg.size == 0:
        return 0.5
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


@dataclass(frozen=True)
class PrivacyReport:
    exact_copy_rate: float
    too_close_rate: float | None
    closer_to_train_share: float | None
    dcr_train_median: float
    dcr_holdout_median: float | None
    mia_auc: float | None
    rows_compared: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "exact_copy_rate": self.exact_copy_rate,
            "too_close_rate": self.too_close_rate,
            "closer_to_train_share": self.closer_to_train_share,
            "dcr_train_median": self.dcr_train_median,
            "dcr_holdout_median": self.dcr_holdout_median,
            "mia_auc": self.mia_auc,
            "rows_compared": self.rows_compared,
        }


def _subsample(t: Table, n: int, rng: np.random.Generator) -> Table:
    if t.n_rows <= n:
        return t
    return t.take(np.sort(rng.choice(t.n_rows, n, replace=False)))


def privacy_report(
    train: Table, synth: Table, holdout: Table | None = None, *, seed: int = 0
) -> PrivacyReport:
    """Privacy metrics of ``synth`` (generated from ``train``) with a ``holdout`` of real
    rows the generator never saw (without it, only copies and closeness within train)."""
    _aligned(train, synth)
    if holdout is not None:
        _aligned(train, holdout)
    real_rows = set(train.rows())
    copies = sum(1 for r in synth.rows() if r in real_rows)
    exact = copies / synth.n_rows
    rng = np.random.default_rng(seed)
    s = _subsample(synth, PRIVACY_SAMPLE, rng)
    tr = _subsample(train, PRIVACY_SAMPLE, rng)
    es, et = _encode(s, train), _encode(tr, train)
    dcr_t = _nearest(es, et)
    if holdout is None:
        base = _nearest(et, et, exclude_self=True)
        thr = float(np.percentile(base, 5))
        too = float(np.mean(dcr_t < thr)) if thr > 0 else float(np.mean(dcr_t == 0))
        return PrivacyReport(exact, too, None, float(np.median(dcr_t)), None, None, s.n_rows)
    ho = _subsample(holdout, PRIVACY_SAMPLE, rng)
    eh = _encode(ho, train)
    # Same number of training and holdout rows, so "nearer to train" is 0.5 by chance.
    m = min(tr.n_rows, ho.n_rows)
    trm = (et[0][:m], et[1][:m])
    hom = (eh[0][:m], eh[1][:m])
    dcr_tm = _nearest(es, trm)
    dcr_h = _nearest(es, hom)
    closer = float(np.mean(dcr_tm < dcr_h) + 0.5 * np.mean(dcr_tm == dcr_h))
    base = _nearest(hom, trm)
    thr = float(np.percentile(base, 5))
    too = float(np.mean(dcr_tm < thr)) if thr > 0 else float(np.mean(dcr_tm == 0))
    # Membership inference: members are nearer to the synthetic rows than non-members.
    auc = _auc(-_nearest(trm, es), -_nearest(hom, es))
    return PrivacyReport(
        exact, too, closer, float(np.median(dcr_t)), float(np.median(dcr_h)), auc, s.n_rows
    )
