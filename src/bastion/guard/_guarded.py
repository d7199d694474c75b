"""The pipeline in process: :class:`GuardedModel` wraps a Python model object.

``guarded.predict(features, credentials=...)`` runs the same stages as the proxy
(identity, authorization, schema, ranges, detectors, limits, breaker, output filters and
obligations, audit) around ``model.predict_proba`` (or ``predict``) and returns the
answer the proxy would send; a refusal raises :class:`GuardRefused` with its status and
reason id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from bastion.access.interface import RequestCredentials
from bastion.core.errors import BastionError
from bastion.guard._pipeline import Admission, EndpointRuntime, Pipeline, Refusal
from bastion.guard.interface import Response

__all__ = ["GuardRefused", "GuardedModel", "PredictsProba"]


class GuardRefused(BastionError):
    """A request the guard refused: ``status`` is the HTTP status the proxy would send and
    ``reason`` the reason id (``schema``, ``rate-limited``, a policy id ...)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"refused ({refusal.status} {refusal.reason})")
        self.http_status = refusal.status
        self.status = refusal.status
        self.reason = refusal.reason
        self.retry_after_s = refusal.retry_after_s
        self.fallback = refusal.fallback


class PredictsProba(Protocol):
    def predict_proba(self, x: Any) -> Any: ...


class GuardedModel:
    def __init__(self, model: Any, pipeline: Pipeline, endpoint: str) -> None:
        if not callable(getattr(model, "predict_proba", None)) and not callable(
            getattr(model, "predict", None)
        ):
            raise TypeError("the model needs predict_proba or predict")
        self.model = model
        self.pipeline = pipeline
        self.endpoint: EndpointRuntime = pipeline.endpoints[endpoint]

    def _refuse(
        self, creds: RequestCredentials, rid: str, started: float, ref: Refusal,
        adm: Admission | None,
    ) -> GuardRefused:  # fmt: skip
        p = self.pipeline
        p.record(p.outcome(self.endpoint, creds, request_id=rid, status=ref.status,
                           started=started, admission=adm, refusal=ref))  # fmt: skip
        return GuardRefused(ref)

    def _answer(self, vector: list[float]) -> dict[str, Any]:
        x = np.asarray([vector], dtype=np.float64)
        cfg = self.endpoint.config.output
        proba = getattr(self.model, "predict_proba", None)
        if callable(proba):
            p = np.asarray(proba(x), dtype=np.float64)[0]
            classes = getattr(self.model, "classes_", None)
            i = int(np.argmax(p))
            label = classes[i].item() if classes is not None and hasattr(classes[i], "item") else i
            return {cfg.label_field: label, "probability": [float(v) for v in p]}
        y = self.model.predict(x)
        v = y[0]
        return {cfg.label_field: v.item() if hasattr(v, "item") else v}

    def predict(
        self, features: Mapping[str, Any], *, credentials: RequestCredentials | None = None
    ) -> Any:
        """The guarded answer for one row ``{feature: value}``."""
        p, ep = self.pipeline, self.endpoint
        creds = credentials or RequestCredentials()
        rid = uuid.uuid4().hex
        started = time.perf_counter()
        if not p.try_enter(p.priority_of(ep)):
            raise self._refuse(creds, rid, started, p.shed(ep), None)
        try:
            adm = p.authorize(ep, creds, rid)
            if isinstance(adm, Refusal):
                raise self._refuse(creds, rid, started, adm, None)
            body = {ep.config.features_field: dict(features)}
            ref = p.parse(adm, body) or p.inspect(adm)
            if ref is not None:
                raise self._refuse(creds, rid, started, ref, adm)
            if not ep.breaker.allow():
                fb = ep.fallback
                ref = Refusal(503, "upstream-unavailable", "circuit breaker open",
                              retry_after_s=ep.breaker.retry_after_s(),
                              fallback=fb.body if fb else None)  # fmt: skip
                raise self._refuse(creds, rid, started, ref, adm)
            assert adm.request is not None
            assert adm.request.features is not None
            t0 = time.perf_counter()
            try:
                answer = self._answer(list(adm.request.features))
            except Exception as exc:
                ep.breaker.failure()
                ref = Refusal(502, "upstream-error", f"the model raised {type(exc).__name__}")
                raise self._refuse(creds, rid, started, ref, adm) from None
            ep.breaker.success()
            upstream_ms = (time.perf_counter() - t0) * 1000.0
            out, filters, blocked = p.finish(adm, Response(status=200, json=answer))
            if blocked is not None:
                raise self._refuse(creds, rid, started, blocked, adm)
            outcome = p.outcome(ep, creds, request_id=rid, status=200, started=started,
                                admission=adm, filters=filters, upstream_ms=upstream_ms,
                                output=out)  # fmt: skip
            if not p.record(outcome):
                raise GuardRefused(Refusal(503, "audit-backlog", "", retry_after_s=1.0))
            return out
        finally:
            p.leave()
