"""Blacklight: near-duplicate query detection by hashed fingerprints across all clients
(Li, Shan, Wenger, Zhang, Zheng and Zhao, "Blacklight: Scalable Defense for Neural
Networks against Query-Based Black-Box Attacks", USENIX Security 2022).

Query-based black-box attacks (HopSkipJump, boundary, Square, score-based gradient
estimation) send long runs of queries that differ from each other only slightly. Each
query is quantized (``quantize`` units per step, so small perturbations vanish), cut
into overlapping windows of ``window`` values, each window (with its position) hashed with
SHA-256, and the ``top_k`` largest hashes kept as the query's fingerprint (the paper keeps
50 of an image's thousands of windows; 20 of a 64-feature row's 49 keep the state store
round trips per query down to 40). The detector remembers the
fingerprints of recent queries across **all** clients (so splitting an attack over many
accounts does not hide it) and scores a query by the largest fraction of its fingerprint
shared with any one earlier query. Memory is bounded: each hash remembers at most
``bucket`` queries and every entry expires after ``ttl_s``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bastion.core.errors import BastionError, InputError
from bastion.guard.detect._common import (
    ATLAS_ADVERSARIAL_DATA,
    ATLAS_INFERENCE_API_ACCESS,
    as_ladder,
    as_scale,
    client_key,
    endpoint_key,
    feature_vector,
    positive,
    positive_int,
)
from bastion.guard.detect._ladder import ResponseLadder
from bastion.guard.interface import GuardRequest, StageResult, StateStore, Verdict

__all__ = ["DEFAULT_BLACKLIGHT_LADDER", "BlacklightDetector", "fingerprint"]

#: a third of the fingerprint shared with one earlier query throttles, a half blocks
DEFAULT_BLACKLIGHT_LADDER = ResponseLadder(throttle=0.34, block=0.5)


def fingerprint(
    x: Sequence[float] | np.ndarray,
    *,
    quantize: float,
    window: int,
    top_k: int,
    scale: np.ndarray | None = None,
) -> list[bytes]:
    """The query's fingerprint: the ``top_k`` largest SHA-256 digests (first 12 bytes) of
    its quantized sliding windows, largest first, without repeats."""
    v = np.asarray(x, dtype=np.float64)
    if scale is not None:
        v = v / scale
    q = np.floor(v / quantize).astype(np.int64)
    w = min(window, q.size)
    wins = sliding_window_view(q, w)
    digests = {
        hashlib.sha256(i.to_bytes(4, "little") + row.tobytes()).digest()[:12]
        for i, row in enumerate(wins)
    }
    return sorted(digests, reverse=True)[:top_k]


class BlacklightDetector:
    """Near-duplicate detection of probing queries across all clients (an InputDetector).

    Score: the largest share of this query's fingerprint found in one earlier query's, in
    [0, 1]; ``ladder`` maps it to a verdict. ``quantize``: the step that small perturbations
    fall within (in feature units, after ``scale``)."""

    def __init__(
        self,
        store: StateStore,
        *,
        quantize: float,
        window: int = 8,
        top_k: int = 20,
        ladder: ResponseLadder | Mapping[str, object] = DEFAULT_BLACKLIGHT_LADDER,
        bucket: int = 32,
        scale: Sequence[float] | None = None,
        ttl_s: float = 3600.0,
        name: str = "blacklight",
    ) -> None:
        self.store = store
        self.quantize = positive("quantize", quantize)
        self.window = positive_int("window", window, 1, 4096)
        self.top_k = positive_int("top_k", top_k, 1, 1024)
        self.ladder = as_ladder(ladder, "blacklight.ladder")
        self.bucket = positive_int("bucket", bucket, 1, 4096)
        self.scale = as_scale(scale)
        self.ttl_s = positive("ttl_s", ttl_s)
        self.name = name

    def inspect(self, request: GuardRequest) -> StageResult:
        try:
            x = feature_vector(request)
            if self.scale is not None and self.scale.size != x.size:
                raise InputError(f"features: {x.size} values, the scale has {self.scale.size}")
        except InputError as exc:
            if request.features is None:
                return StageResult(self.name, reasons=("no feature vector: not applicable",))
            return StageResult(
                self.name,
                Verdict.BLOCK,
                1.0,
                (f"refused: {exc.message}",),
                (ATLAS_INFERENCE_API_ACCESS,),
            )
        try:
            return self._inspect(request, x)
        except BastionError as exc:  # the state store is unreachable or refused: fail closed
            return StageResult(
                self.name, Verdict.BLOCK, 1.0, (f"refused: state unavailable ({exc.message})",),
                (ATLAS_INFERENCE_API_ACCESS,),
            )  # fmt: skip

    def _inspect(self, request: GuardRequest, x: np.ndarray) -> StageResult:
        fp = fingerprint(
            x, quantize=self.quantize, window=self.window, top_k=self.top_k, scale=self.scale
        )
        ep = endpoint_key(request.endpoint)
        me = client_key(request.endpoint, request.client_id)[:12]
        qid = self.store.incr(f"bl:{ep}:seq", 1, None)
        entry = f"{qid}:{me}".encode()
        hits: Counter[bytes] = Counter()
        for h in fp:
            key = f"bl:{ep}:h:{h.hex()}"
            hits.update(set(self.store.items(key)))
            self.store.push_bounded(key, entry, self.bucket, self.ttl_s)
        if not hits:
            return StageResult(self.name, reasons=("no earlier query shares a fingerprint",))
        best, matched = hits.most_common(1)[0]
        score = matched / len(fp)
        verdict = self.ladder.verdict(score)
        other = best.split(b":", 1)[1].decode() != me
        near = sum(1 for c in hits.values() if c / len(fp) >= (self.ladder_floor()))
        reasons: tuple[str, ...] = (
            f"{matched} of {len(fp)} fingerprint hashes match one earlier query"
            + (" from another client" if other else ""),
            f"{near} earlier queries match at least {self.ladder_floor():.2f} of the fingerprint",
        )
        if verdict is not Verdict.ALLOW:
            reasons += ("near-duplicate queries: query-based black-box attack suspected",)
        techniques = (
            (ATLAS_ADVERSARIAL_DATA, ATLAS_INFERENCE_API_ACCESS)
            if verdict is not Verdict.ALLOW
            else ()
        )
        return StageResult(self.name, verdict, score, reasons, techniques)

    def ladder_floor(self) -> float:
        """The lowest score the ladder acts on."""
        rungs = [t for t in self.ladder.to_dict().values() if t is not None]
        return min(rungs)
