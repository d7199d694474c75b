"""The guard's pipeline: one implementation, used by the proxy and the in-process wrapper.

Per request, in order: identity (:class:`Authenticator`; revocations from the shared
state store) -> authorization (:class:`Authorizer`: a :class:`Decision` and its
obligations) -> size limit and JSON / schema validation -> feature range checks against
the training reference -> the :class:`InputDetector` stages -> rate limits and quotas
(token buckets in the state store) -> [the caller does the upstream call, behind the
endpoint's circuit breaker] -> the :class:`OutputFilter` stages and the obligations
(redact fields, coarsen scores to labels) -> an audit record (OCSF event to the sinks and
a ledger event through the group committer, see :mod:`bastion.guard._audit`).

Every refusal is a :class:`Refusal`: an HTTP status, a stable reason id the caller may see
(never internals) and, for the audit, the detail. Nothing here raises on hostile input.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import numpy as np
from pydantic import BaseModel, ValidationError

from bastion.access.interface import (
    Authenticator,
    AuthMethod,
    Authorizer,
    CredentialError,
    Decision,
    Identity,
    IdentityKind,
    Obligations,
    RequestCredentials,
    ResourceKind,
    ResourceRef,
)
from bastion.core.errors import BastionError, ConfigError
from bastion.guard._breaker import CircuitBreaker
from bastion.guard._config import EndpointConfig, EndpointKind, GuardConfig, Priority
from bastion.guard._state import MemoryStateStore, RedisStateStore
from bastion.guard.interface import (
    FilterResult,
    GuardRequest,
    InputDetector,
    OutputFilter,
    Response,
    StageResult,
    Verdict,
)

__all__ = [
    "Admission",
    "EndpointRuntime",
    "Outcome",
    "Pipeline",
    "Refusal",
    "apply_obligations",
    "feature_ranges",
]

#: how much more a THROTTLE verdict costs in tokens than an ordinary request
THROTTLE_COST = 4.0
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str  # the stable id the caller sees (e.g. "schema", "rate-limited", a policy id)
    detail: str = ""  # for the audit log; never sent to the caller
    retry_after_s: float | None = None
    fallback: Mapping[str, Any] | None = None
    fallback_status: int = 200
    #: who was refused, when they were authenticated first (for the audit)
    identity: Identity | None = None
    policies: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        return {"error": self.reason, "status": self.status}


@dataclass(slots=True)
class Admission:
    """A request that passed every stage before the upstream call."""

    request_id: str
    endpoint: EndpointRuntime
    identity: Identity
    decision: Decision
    credentials: RequestCredentials
    body: Any = None
    request: GuardRequest | None = None
    verdict: Verdict = Verdict.ALLOW
    stages: list[StageResult] = field(default_factory=list)
    started: float = 0.0


@dataclass(slots=True)
class Outcome:
    """What happened to one request: what the audit writer records."""

    request_id: str
    endpoint: str
    model: str
    principal: str
    method: str
    token_id: str | None
    client: str | None
    action: str
    status: int
    reason: str | None
    detail: str | None
    verdict: Verdict
    policies: tuple[str, ...]
    obligations: tuple[str, ...]
    stages: tuple[StageResult, ...]
    filters: tuple[FilterResult, ...]
    latency_ms: float
    upstream_ms: float | None
    inputs: Mapping[str, Any]
    output: Any
    at: float

    @property
    def allowed(self) -> bool:
        return 200 <= self.status < 300 and self.reason is None


def feature_ranges(
    reference: Path, features: Sequence[str], margin: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Allowed [lo, hi] per feature: the training reference's range (the monitor room's
    reference statistics) widened by ``margin`` times its span."""
    from bastion.monitor import ReferenceProfile
    from bastion.monitor.tables import read_table

    table = read_table(reference)
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise ConfigError(f"reference {reference.name}: lacks feature(s) {', '.join(missing[:5])}")
    profile = ReferenceProfile.build({f: table.columns[f] for f in features})
    lo, hi = [], []
    for f in features:
        ref = profile.columns[f]
        sample = getattr(ref, "sample", None)
        if sample is None or len(sample) == 0:  # categorical: no numeric range
            lo.append(-math.inf)
            hi.append(math.inf)
            continue
        vals = np.asarray(table.columns[f], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        a, b = float(vals.min()), float(vals.max())
        span = max(b - a, 1e-12)
        lo.append(a - margin * span)
        hi.append(b + margin * span)
    return np.asarray(lo), np.asarray(hi)


class EndpointRuntime:
    """One configured endpoint, ready: its validator, ranges, stages and breaker."""

    def __init__(
        self,
        config: EndpointConfig,
        *,
        base_dir: Path,
        detectors: Sequence[InputDetector] = (),
        filters: Sequence[OutputFilter] = (),
        model: type[BaseModel] | None = None,
        digest: str | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.detectors = tuple(detectors)
        self.filters = tuple(filters)
        self.model = model
        self.digest = digest
        self.breaker = CircuitBreaker(
            config.name,
            failure_threshold=config.breaker.failures,
            reset_after_s=config.breaker.reset_after_s,
        )
        schema = config.request_schema
        if config.request_schema_file is not None:
            p = (base_dir / config.request_schema_file).resolve()
            try:
                schema = json.loads(p.read_bytes()[: 1024 * 1024 + 1])
            except (OSError, ValueError) as exc:
                raise ConfigError(f"endpoint {config.name}: cannot read its schema {p.name}: "
                                  f"{type(exc).__name__}") from None  # fmt: skip
        self.validator: Any = None
        if schema is not None:
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"endpoint {config.name}: its request schema is not valid: "
                                  f"{exc.message[:200]}") from None  # fmt: skip
            self.validator = cls(schema)
        self.lo: np.ndarray[Any, Any] | None = None
        self.hi: np.ndarray[Any, Any] | None = None
        if config.reference is not None:
            self.lo, self.hi = feature_ranges(
                (base_dir / config.reference).resolve(), config.features, config.range_margin
            )
        self.fallback = config.fallback

    @property
    def priority(self) -> Priority:
        return self.config.priority_class


def _anonymous(creds: RequestCredentials) -> Identity:
    return Identity(
        id=f"anonymous:{creds.remote_addr or 'unknown'}",
        kind=IdentityKind.USER,
        method=AuthMethod.ANONYMOUS,
    )


def _first_error(errors: Any) -> str:
    e = min(errors, key=lambda x: (len(list(x.absolute_path)), str(x.validator)))
    where = ".".join(str(p) for p in e.absolute_path) or "(body)"
    return f"{where}: fails '{e.validator}'"


def _get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _set_path(obj: Any, path: str, value: Any) -> bool:
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return False
    last = parts[-1]
    if isinstance(obj, dict):
        obj[last] = value
        return True
    if isinstance(obj, list) and last.isdigit() and int(last) < len(obj):
        obj[int(last)] = value
        return True
    return False


def _strip(obj: Any, names: frozenset[str], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return None
    if isinstance(obj, dict):
        return {k: _strip(v, names, depth + 1) for k, v in obj.items() if k not in names}
    if isinstance(obj, list):
        return [_strip(v, names, depth + 1) for v in obj]
    return obj


def apply_obligations(
    body: Any, obligations: Obligations, *, coarsen: bool, score_fields: Sequence[str]
) -> Any:
    """The answer with redacted fields removed and, when coarsening, every score field
    removed (the label stays), at any depth."""
    names = set(obligations.redact_fields)
    if coarsen or obligations.coarsen_scores:
        names.update(score_fields)
    return _strip(body, frozenset(names)) if names else body


def _obligation_names(o: Obligations, coarsen: bool) -> tuple[str, ...]:
    out = [f"redact:{f}" for f in sorted(o.redact_fields)]
    if coarsen or o.coarsen_scores:
        out.append("coarsen")
    if o.rate_class != "default":
        out.append(f"rate_class:{o.rate_class}")
    if o.require_mfa:
        out.append("require_mfa")
    return tuple(out)


Store = MemoryStateStore | RedisStateStore


class Pipeline:
    def __init__(
        self,
        config: GuardConfig,
        endpoints: Mapping[str, EndpointRuntime],
        *,
        authenticator: Authenticator,
        authorizer: Authorizer,
        store: Store,
        audit: Any = None,
        clock: Any = time.time,
    ) -> None:
        if authorizer is None:
            raise ConfigError("the guard has no authorizer: it refuses to start (fail closed)")
        self.config = config
        self.endpoints = dict(endpoints)
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.store = store
        self.audit = audit
        self._clock = clock
        self.inflight = 0
        self._limits = config.limits

    # -- load shedding -------------------------------------------------------------------

    def try_enter(self, priority: Priority) -> bool:
        """Take a concurrency slot for a call of ``priority``, or refuse at once (never a
        queue): bulk calls only below ``bulk_share`` of the limit, normal calls below
        ``normal_share``, critical calls up to the limit itself."""
        cap = self._limits.max_concurrency
        if priority is Priority.BULK:
            cap = max(1, int(cap * self._limits.bulk_share))
        elif priority is Priority.NORMAL:
            cap = max(1, int(cap * self._limits.normal_share))
        if self.inflight >= cap:
            return False
        self.inflight += 1
        return True

    def leave(self) -> None:
        self.inflight -= 1

    def priority_of(self, ep: EndpointRuntime) -> Priority:
        if ep.config.action.value in ("administer", "export"):
            return Priority.BULK
        return ep.priority

    def shed(self, ep: EndpointRuntime) -> Refusal:
        return Refusal(
            503, "overloaded", f"{self.inflight} requests in flight", retry_after_s=1.0,
            fallback=ep.fallback.body if ep.fallback else None,
            fallback_status=ep.fallback.status if ep.fallback else 200,
        )  # fmt: skip

    # -- identity and authorization ------------------------------------------------------

    def authorize(
        self, ep: EndpointRuntime, creds: RequestCredentials, request_id: str | None = None
    ) -> Admission | Refusal:
        rid = request_id or uuid.uuid4().hex
        presented = creds.bearer or creds.client_cert_der or creds.session
        try:
            identity = self.authenticator.authenticate(creds) if presented else _anonymous(creds)
        except CredentialError as exc:
            return Refusal(401, "invalid-credentials", exc.message[:200])
        except BastionError as exc:  # an authenticator's own failure: refuse, never allow
            return Refusal(401, "invalid-credentials", f"{type(exc).__name__}: {exc.message[:160]}")
        except Exception as exc:
            return Refusal(
                401, "invalid-credentials", f"authenticator failed: {type(exc).__name__}"
            )
        try:
            if identity.token_id is not None and self.store.is_revoked(identity.token_id):
                return Refusal(
                    401, "invalid-credentials", f"credential {identity.token_id} revoked"
                )
        except ConfigError as exc:
            return Refusal(503, "state-unavailable", exc.message)
        if identity.expires_at is not None and identity.expires_at <= datetime.now(UTC):
            return Refusal(401, "invalid-credentials", "credential expired")
        resource = ResourceRef(ResourceKind.ENDPOINT, ep.name, dict(ep.config.attributes))
        try:
            decision = self.authorizer.decide(
                identity, ep.config.action, resource,
                {"model": ep.config.model, "client": creds.remote_addr or ""},
            )  # fmt: skip
        except Exception as exc:  # deny by default: an engine error is a denial
            return Refusal(403, "policy-error", f"authorizer failed: {type(exc).__name__}",
                           identity=identity)  # fmt: skip
        if not isinstance(decision, Decision) or not decision.allowed:
            ok = isinstance(decision, Decision)
            reason = decision.policies[0] if ok and decision.policies else "denied"
            why = "; ".join(decision.reasons)[:300] if ok else ""
            return Refusal(403, reason, why, identity=identity,
                           policies=decision.policies if ok else ())  # fmt: skip
        if decision.obligations.require_mfa and not identity.mfa:
            return Refusal(403, "step-up-required", "the policy requires a second factor",
                           identity=identity, policies=decision.policies)  # fmt: skip
        return Admission(rid, ep, identity, decision, creds, started=time.perf_counter())

    # -- body, schema, ranges, detectors, limits -----------------------------------------

    def parse(self, adm: Admission, raw: bytes | Mapping[str, Any]) -> Refusal | None:
        ep = adm.endpoint
        if isinstance(raw, (bytes, bytearray, memoryview)):
            if len(raw) > self._limits.max_body_bytes:
                return Refusal(413, "body-too-large", f"{len(raw)} bytes")
            try:
                body = json.loads(bytes(raw))
            except (ValueError, RecursionError):
                return Refusal(400, "malformed-json", "the body is not JSON")
        else:
            body = raw
        if not isinstance(body, dict):
            return Refusal(400, "malformed-json", "the body must be a JSON object")
        if ep.validator is not None:
            try:  # the fast yes/no first; the errors only for a refusal
                if not ep.validator.is_valid(body):
                    return Refusal(422, "schema", _first_error(ep.validator.iter_errors(body)))
            except RecursionError:
                return Refusal(422, "schema", "the body is nested too deeply")
        if ep.model is not None:
            try:
                ep.model.model_validate(body)
            except ValidationError as exc:
                e = exc.errors()[0]
                return Refusal(422, "schema", f"{'.'.join(map(str, e['loc']))}: {e['msg']}"[:300])
        adm.body = body
        features: tuple[float, ...] | None = None
        messages: tuple[tuple[str, str], ...] = ()
        if ep.config.kind is EndpointKind.TABULAR:
            got = body.get(ep.config.features_field)
            if not isinstance(got, dict):
                return Refusal(422, "schema", f"{ep.config.features_field}: expected an object")
            vals: list[float] = []
            for name in ep.config.features:
                v = got.get(name)
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    if name in ep.config.categorical:
                        vals.append(math.nan)
                        continue
                    return Refusal(
                        422, "schema", f"{ep.config.features_field}.{name}: expected a number"
                    )
                f = float(v)
                if not math.isfinite(f):
                    return Refusal(422, "schema", f"{ep.config.features_field}.{name}: not finite")
                vals.append(f)
            if ep.lo is not None and ep.hi is not None:
                arr = np.asarray(vals)
                bad = np.flatnonzero((arr < ep.lo) | (arr > ep.hi))
                if bad.size:
                    name = ep.config.features[int(bad[0])]
                    return Refusal(
                        422, "out-of-range", f"{name} outside the training reference's range"
                    )
            features = tuple(vals)
        else:
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return Refusal(422, "schema", "messages: expected a non-empty list")
            out: list[tuple[str, str]] = []
            for m in msgs[:1000]:
                if not isinstance(m, dict):
                    return Refusal(422, "schema", "messages: each item is an object")
                role, content = m.get("role"), m.get("content")
                if not isinstance(role, str) or not isinstance(content, str):
                    return Refusal(422, "schema", "messages: role and content are strings")
                if role != "system":
                    out.append((role, content))
            messages = tuple(out)
        tools = body.get("tool_calls")
        tool_calls = tuple(str(t)[:128] for t in tools[:100]) if isinstance(tools, list) else ()
        ident = adm.identity
        client = ident.id if ident.method is not AuthMethod.ANONYMOUS else (
            adm.credentials.remote_addr or ident.id)  # fmt: skip
        adm.request = GuardRequest(
            request_id=adm.request_id, endpoint=ep.name, client_id=client, identity=ident,
            features=features, messages=messages, tool_calls=tool_calls,
            received_at=self._clock(),
        )  # fmt: skip
        return None

    def inspect(self, adm: Admission) -> Refusal | None:
        """The detectors, then rate limits and quotas."""
        assert adm.request is not None
        verdict = Verdict.ALLOW
        for d in adm.endpoint.detectors:
            try:
                r = d.inspect(adm.request)
            except Exception as exc:  # a detector that fails is a block, not an allow
                r = StageResult(
                    d.name, Verdict.BLOCK, 1.0, (f"detector failed: {type(exc).__name__}",)
                )
            adm.stages.append(r)
            verdict = max(verdict, r.verdict)
        adm.verdict = verdict
        if verdict is Verdict.BLOCK:
            worst = next(s for s in adm.stages if s.verdict is Verdict.BLOCK)
            return Refusal(403, f"detector:{worst.detector}", "; ".join(worst.reasons)[:300])
        if verdict is Verdict.STEP_UP and not adm.identity.mfa:
            return Refusal(403, "step-up-required", "a detector asks for a second factor")
        return self.limit(adm, THROTTLE_COST if verdict is Verdict.THROTTLE else 1.0)

    def limit(self, adm: Admission, cost: float) -> Refusal | None:
        assert adm.request is not None
        ob = adm.decision.obligations
        rc_name = ob.rate_class if ob.rate_class in self.config.rate_classes else "default"
        rc = self.config.rate_classes[rc_name]
        client = adm.request.client_id
        ep = adm.endpoint.name
        try:
            got = self.store.take(
                f"rl:{ep}:{rc_name}:{client}"[:256], rc.rate_per_s, rc.burst, cost
            )
            if not got.allowed:
                return Refusal(429, "rate-limited", f"rate class {rc_name}",
                               retry_after_s=max(1.0, math.ceil(got.retry_after_s)))  # fmt: skip
            if rc.quota_per_day is not None:
                day = int(self._clock() // 86_400)
                used = self.store.incr(f"q:{ep}:{day}:{client}"[:256], 1, ttl_s=90_000)
                if used > rc.quota_per_day:
                    wait = 86_400 - self._clock() % 86_400
                    return Refusal(429, "quota-exceeded", f"daily quota {rc.quota_per_day}",
                                   retry_after_s=math.ceil(wait))  # fmt: skip
        except ConfigError as exc:  # the shared store is down: fail closed
            return Refusal(503, "state-unavailable", exc.message)
        return None

    def admit(
        self,
        ep: EndpointRuntime,
        creds: RequestCredentials,
        raw: bytes | Mapping[str, Any],
        request_id: str | None = None,
    ) -> Admission | Refusal:
        """Every stage before the upstream call, in order."""
        adm = self.authorize(ep, creds, request_id)
        if isinstance(adm, Refusal):
            return adm
        return self.parse(adm, raw) or self.inspect(adm) or adm

    # -- the answer --------------------------------------------------------------------------

    def finish(
        self, adm: Admission, response: Response
    ) -> tuple[Any, list[FilterResult], Refusal | None]:
        """Output filters and obligations over the upstream's JSON answer."""
        assert adm.request is not None
        ep = adm.endpoint
        body = response.json
        results: list[FilterResult] = []
        text = response.text
        if ep.config.kind is EndpointKind.LLM and text is None and body is not None:
            t = _get_path(body, ep.config.output.completion_path)
            text = t if isinstance(t, str) else None
        resp = replace(response, text=text) if text is not response.text else response
        for f in ep.filters:
            try:
                r = f.filter(adm.request, resp)
            except Exception as exc:
                r = FilterResult(
                    f.name, Verdict.BLOCK, reasons=(f"filter failed: {type(exc).__name__}",)
                )
            results.append(r)
            if r.text is not None:
                resp = replace(resp, text=r.text)
            adm.verdict = max(adm.verdict, r.verdict)
        if adm.verdict is Verdict.BLOCK:
            worst = next((r for r in results if r.verdict is Verdict.BLOCK), None)
            name = worst.filter if worst else "detector"
            return (
                None,
                results,
                Refusal(403, f"filter:{name}", "; ".join(worst.reasons if worst else ())[:300]),
            )
        if resp.text is not None and resp.text != text and body is not None:
            body = json.loads(json.dumps(body))  # a copy we may rewrite
            _set_path(body, ep.config.output.completion_path, resp.text)
        out = apply_obligations(
            body, adm.decision.obligations, coarsen=adm.verdict is Verdict.COARSEN,
            score_fields=ep.config.output.score_fields,
        )  # fmt: skip
        return out, results, None

    # -- the record --------------------------------------------------------------------------

    def outcome(
        self,
        ep: EndpointRuntime,
        creds: RequestCredentials,
        *,
        request_id: str,
        status: int,
        started: float,
        admission: Admission | None = None,
        refusal: Refusal | None = None,
        filters: Sequence[FilterResult] = (),
        upstream_ms: float | None = None,
        output: Any = None,
    ) -> Outcome:
        ident = admission.identity if admission else (refusal.identity if refusal else None)
        ob = admission.decision.obligations if admission else Obligations()
        coarsen = bool(admission and admission.verdict is Verdict.COARSEN)
        inputs: dict[str, Any] = {}
        if (
            admission is not None
            and admission.request is not None
            and ob.log_level.value != "minimal"
        ):
            req = admission.request
            if req.features is not None:
                inputs = dict(zip(ep.config.features, req.features, strict=True))
            elif req.messages:
                inputs = {"messages": [c for _, c in req.messages][:50]}
        return Outcome(
            request_id=request_id, endpoint=ep.name, model=ep.config.model,
            principal=ident.id if ident else "unauthenticated",
            method=ident.method.value if ident else "none",
            token_id=ident.token_id if ident else None, client=creds.remote_addr,
            action=ep.config.action.value, status=status,
            reason=refusal.reason if refusal else None,
            detail=refusal.detail if refusal else None,
            verdict=admission.verdict if admission else Verdict.ALLOW,
            policies=admission.decision.policies if admission else (
                refusal.policies if refusal else ()),
            obligations=_obligation_names(ob, coarsen) if admission else (),
            stages=tuple(admission.stages) if admission else (), filters=tuple(filters),
            latency_ms=(time.perf_counter() - started) * 1000.0, upstream_ms=upstream_ms,
            inputs=inputs, output=output if ob.log_level.value != "minimal" else None,
            at=self._clock(),
        )  # fmt: skip

    def record(self, outcome: Outcome) -> bool:
        """Hand the outcome to the audit writer; False when its queue is full."""
        if self.audit is None:
            return True
        return bool(self.audit.submit(outcome))
