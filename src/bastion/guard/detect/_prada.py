"""PRADA: model-extraction detection from the distances between a client's queries
(Juuti, Szyller, Marchal and Asokan, "PRADA: Protecting against DNN Model Stealing
Attacks", EuroS&P 2019).

For each client the detector keeps a *growing set* of its queries (per predicted class
when the label is known, else one set) and the stream ``D`` of each new query's minimum
L2 distance to the growing set. A query farther than the set's threshold ``T`` joins the
set, and ``T`` rises to ``mean - std`` of the distances that joined it. Queries from a
natural distribution give roughly normally distributed distances; the synthetic queries of
extraction attacks (small steps from earlier queries, or points spread uniformly over the
input space) do not. Once ``D`` holds ``min_queries`` distances, a Shapiro-Wilk test
gives ``W`` in (0, 1]; the detector's score is ``1 - W``.

Memory per client is bounded: at most ``max_growing`` vectors per class, ``max_classes``
classes and the latest ``max_distances`` distances, all with an expiry, in a
:class:`~bastion.guard.interface.StateStore` (so guard replicas share them).
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import BastionError, InputError
from bastion.guard.detect._common import (
    ATLAS_EXFIL_INFERENCE_API,
    ATLAS_EXTRACT_MODEL,
    ATLAS_INFERENCE_API_ACCESS,
    as_ladder,
    as_scale,
    client_key,
    feature_vector,
    positive,
    positive_int,
)
from bastion.guard.detect._ladder import ResponseLadder
from bastion.guard.interface import (
    FilterResult,
    GuardRequest,
    Response,
    StageResult,
    StateStore,
    Verdict,
)

__all__ = ["DEFAULT_PRADA_LADDER", "PradaDetector"]

#: W below 0.90 throttles, below 0.85 coarsens to labels, below 0.80 blocks (score = 1 - W)
DEFAULT_PRADA_LADDER = ResponseLadder(throttle=0.10, coarsen=0.15, block=0.20)
_ALL = "*"
_MAX_LABEL = 64
_F8 = struct.Struct("<d")
#: per-class mode with no answer seen after this many requests: the filter is not wired
_UNWIRED_AFTER = 20


class PradaDetector:
    """Per-client PRADA extraction detection (an :class:`InputDetector`; also an
    :class:`OutputFilter` that learns each query's predicted class when ``label_field``
    names it in the upstream's JSON answer).

    ``scale``: divide each feature by it before distances (tabular features of different
    units); ``min_queries``: distances needed before the test runs (the paper: 100)."""

    def __init__(
        self,
        store: StateStore,
        *,
        ladder: ResponseLadder | Mapping[str, object] = DEFAULT_PRADA_LADDER,
        min_queries: int = 100,
        max_growing: int = 1000,
        max_distances: int = 2000,
        max_classes: int = 64,
        scale: Sequence[float] | None = None,
        label_field: str | None = None,
        ttl_s: float = 86_400.0,
        name: str = "prada",
    ) -> None:
        self.store = store
        self.ladder = as_ladder(ladder, "prada.ladder")
        self.min_queries = positive_int("min_queries", min_queries, 20, 5000)
        self.max_growing = positive_int("max_growing", max_growing, 1, 100_000)
        self.max_distances = positive_int("max_distances", max_distances, self.min_queries, 5000)
        self.max_classes = positive_int("max_classes", max_classes, 1, 10_000)
        self.scale = as_scale(scale)
        if label_field is not None and not (0 < len(label_field) <= 128):
            raise InputError("label_field: expected a field name of 1-128 characters")
        self.label_field = label_field
        self.ttl_s = positive("ttl_s", ttl_s)
        self.name = name
        self._inspected = 0
        self._filtered = 0

    # -- the stage -----------------------------------------------------------------

    def inspect(self, request: GuardRequest) -> StageResult:
        try:
            x = self._vector(request)
        except InputError as exc:
            if request.features is None:
                return StageResult(self.name, reasons=("no feature vector: not applicable",))
            return StageResult(
                self.name, Verdict.BLOCK, 1.0, (f"refused: {exc.message}",), self._techniques()
            )
        base = self._base(request)
        self._inspected += 1
        # per-class mode learns from the answers; a detector never wired as an output
        # filter would learn nothing (fail open): then it observes here, without classes
        unwired = self.label_field is not None and self._filtered == 0
        unwired = unwired and self._inspected > _UNWIRED_AFTER
        try:
            if self.label_field is None or unwired:
                problem = self._observe(base, x, _ALL)
                if problem is not None:
                    return StageResult(
                        self.name, Verdict.BLOCK, 1.0, (problem,), self._techniques()
                    )
            result = self._judge(base)
            if unwired:
                note = "no labels from the answers (add the detector to the endpoint's filters)"
                return StageResult(result.detector, result.verdict, result.score,
                                   (*result.reasons, note), result.techniques)  # fmt: skip
            return result
        except BastionError as exc:  # the state store is unreachable or refused: fail closed
            return StageResult(
                self.name, Verdict.BLOCK, 1.0, (f"refused: state unavailable ({exc.message})",),
                self._techniques(),
            )  # fmt: skip

    def filter(self, request: GuardRequest, response: Response) -> FilterResult:
        """Learn the query's predicted class from the answer (when ``label_field`` is set)."""
        if self.label_field is None or request.features is None:
            return FilterResult(self.name)
        self._filtered += 1
        label = response.json.get(self.label_field) if isinstance(response.json, Mapping) else None
        if isinstance(label, bool | int | str) and len(str(label)) <= _MAX_LABEL:
            cls = str(label)
        else:
            cls = _ALL
        try:
            x = self._vector(request)
            problem = self._observe(self._base(request), x, cls)
        except InputError:
            return FilterResult(self.name)
        except BastionError as exc:
            return FilterResult(
                self.name, Verdict.BLOCK, reasons=(f"refused: state unavailable ({exc.message})",)
            )
        if problem is not None:
            return FilterResult(self.name, Verdict.BLOCK, reasons=(problem,))
        return FilterResult(self.name)

    def observe(self, request: GuardRequest, label: str | int | None = None) -> None:
        """Add a query to the client's state by hand (in-process use, label known)."""
        x = self._vector(request)
        cls = _ALL if label is None else str(label)[:_MAX_LABEL]
        problem = self._observe(self._base(request), x, cls)
        if problem is not None:
            raise InputError(problem)

    def statistic(self, request: GuardRequest) -> float | None:
        """The client's current Shapiro-Wilk W, or None before ``min_queries`` distances
        (only the request's endpoint and client matter)."""
        d = self._distances(self._base(request))
        return None if len(d) < self.min_queries else _shapiro_w(d)

    # -- internals -----------------------------------------------------------------

    def _techniques(self) -> tuple[str, ...]:
        return (ATLAS_EXTRACT_MODEL, ATLAS_EXFIL_INFERENCE_API, ATLAS_INFERENCE_API_ACCESS)

    def _base(self, request: GuardRequest) -> str:
        return f"prada:{client_key(request.endpoint, request.client_id)}"

    def _vector(self, request: GuardRequest) -> NDArray[np.float64]:
        x = feature_vector(request)
        if self.scale is not None:
            if self.scale.size != x.size:
                raise InputError(f"features: {x.size} values, the scale has {self.scale.size}")
            x = x / self.scale
        return x

    def _distances(self, base: str) -> NDArray[np.float64]:
        raw = self.store.items(f"{base}:d")
        return np.frombuffer(b"".join(raw), dtype="<f8") if raw else np.empty(0)

    def _observe(self, base: str, x: NDArray[np.float64], cls: str) -> str | None:
        ttl = self.ttl_s
        dim_key = f"{base}:dim"
        dim = self.store.get(dim_key)
        if dim is None:
            self.store.set(dim_key, str(x.size).encode(), ttl)
        elif int(dim) != x.size:
            return f"refused: {x.size} features after {int(dim)} from this client"
        ckey = hash_label(cls)
        gkey = f"{base}:g:{ckey}"
        growing = self.store.items(gkey)
        x32 = x.astype("<f4")  # stored as float32: compare at the same precision
        blob = x32.tobytes()
        x = x32.astype(np.float64)
        if not growing:
            if cls != _ALL and self.store.incr(f"{base}:classes", 1, ttl) > self.max_classes:
                return f"refused: more than {self.max_classes} classes for one client"
            self.store.push_bounded(gkey, blob, self.max_growing, ttl)
            return None
        g = np.frombuffer(b"".join(growing), dtype="<f4").reshape(len(growing), -1)
        d = float(np.sqrt(((g.astype(np.float64) - x) ** 2).sum(axis=1)).min())
        if d == 0.0:  # an exact repeat (a retry) tells an extraction attack nothing new
            return None
        self.store.push_bounded(f"{base}:d", _F8.pack(d), self.max_distances, ttl)
        tkey = f"{base}:t:{ckey}"
        traw = self.store.get(tkey)
        t = _F8.unpack(traw)[0] if traw is not None else 0.0
        if d > t:
            self.store.push_bounded(gkey, blob, self.max_growing, ttl)
            dgkey = f"{base}:dg:{ckey}"
            self.store.push_bounded(dgkey, _F8.pack(d), self.max_distances, ttl)
            dg = np.frombuffer(b"".join(self.store.items(dgkey)), dtype="<f8")
            self.store.set(tkey, _F8.pack(max(t, float(dg.mean() - dg.std()))), ttl)
        return None

    def _judge(self, base: str) -> StageResult:
        d = self._distances(base)
        n = len(d)
        if n < self.min_queries:
            return StageResult(
                self.name, reasons=(f"{n} of {self.min_queries} distances before testing",)
            )
        w = _shapiro_w(d)
        score = 1.0 - w
        verdict = self.ladder.verdict(score)
        reasons: tuple[str, ...] = (
            f"Shapiro-Wilk W = {w:.4f} over the last {n} minimum distances",
        )
        if verdict is not Verdict.ALLOW:
            reasons += ("query distances are not normal: model extraction suspected",)
        return StageResult(
            self.name,
            verdict,
            score,
            reasons,
            self._techniques() if verdict is not Verdict.ALLOW else (),
        )


def hash_label(label: str) -> str:
    return label if label == _ALL else label.encode().hex()[: 2 * _MAX_LABEL]


def _shapiro_w(d: NDArray[np.float64]) -> float:
    """Shapiro-Wilk W of the distances; a degenerate set (all equal) counts as W = 0."""
    from scipy import stats  # type: ignore[import-untyped]

    if len(d) < 3 or float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = float(stats.shapiro(d[-5000:]).statistic)
    return w if np.isfinite(w) else 0.0
