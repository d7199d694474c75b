"""The guard's contract between its pipeline and its detection stages.

The pipeline (``bastion.guard`` proper: identity, authorization, validation, limits, the
upstream call, obligations, audit) runs every request through a list of
:class:`InputDetector` stages before the upstream call and :class:`OutputFilter` stages
after it. Detectors are stateful per client where they need to be (probing and extraction
detection) and keep their state in a :class:`StateStore` (in process, or Redis when
``BASTION_REDIS_URL`` is set, so replicas share it). Data types and protocols only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bastion.access.interface import Identity

__all__ = [
    "FilterResult",
    "GuardRequest",
    "InputDetector",
    "OutputFilter",
    "Response",
    "StageResult",
    "StateStore",
    "Verdict",
]


class Verdict(enum.IntEnum):
    """Graduated responses, ordered: the pipeline applies the most severe verdict of any stage."""

    ALLOW = 0
    THROTTLE = 1  # slow this client down (lower its rate class)
    COARSEN = 2  # answer with labels only, no scores
    STEP_UP = 3  # require a fresh second factor before answering
    BLOCK = 4  # refuse (HTTP 403) and raise a detection


@dataclass(frozen=True, slots=True)
class GuardRequest:
    """One inference request as the detectors see it (already authenticated and schema-valid)."""

    request_id: str
    endpoint: str
    client_id: str  # the identity id, or the remote address for anonymous callers
    identity: Identity | None
    #: tabular/vector models: the numeric feature vector, in the model's feature order
    features: Sequence[float] | None = None
    #: LLM endpoints: the chat messages as role/content pairs (system prompt excluded)
    messages: Sequence[tuple[str, str]] = ()
    #: tool calls the request asks for, if the endpoint is an agent
    tool_calls: Sequence[str] = ()
    received_at: float = 0.0  # epoch seconds


@dataclass(frozen=True, slots=True)
class StageResult:
    detector: str
    verdict: Verdict = Verdict.ALLOW
    score: float = 0.0  # detector-specific, documented per detector; higher = more suspicious
    reasons: tuple[str, ...] = ()
    #: MITRE ATLAS technique ids this finding maps to (e.g. AML.T0024 exfiltration via API)
    techniques: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    """The upstream's answer as output filters see it."""

    status: int
    json: object | None = None  # parsed JSON body when the upstream sent JSON
    text: str | None = None  # LLM completion text, extracted from the body by the endpoint's path
    tool_calls: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class FilterResult:
    filter: str
    verdict: Verdict = Verdict.ALLOW
    #: the (possibly rewritten) completion text; None leaves it unchanged
    text: str | None = None
    reasons: tuple[str, ...] = ()
    #: counts of what was changed, e.g. {"EMAIL_ADDRESS": 2, "image_link": 1}
    changes: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class InputDetector(Protocol):
    name: str

    def inspect(self, request: GuardRequest) -> StageResult:
        """Score one request; update per-client state. Must not raise on hostile input."""
        ...


@runtime_checkable
class OutputFilter(Protocol):
    name: str

    def filter(self, request: GuardRequest, response: Response) -> FilterResult: ...


@runtime_checkable
class StateStore(Protocol):
    """Shared counters and small blobs with expiry; in process or Redis."""

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int: ...

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    def push_bounded(self, key: str, value: bytes, maxlen: int, ttl_s: float | None = None) -> None:
        """Append to a capped list (oldest dropped)."""
        ...

    def items(self, key: str) -> list[bytes]: ...
