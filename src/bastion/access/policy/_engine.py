"""The policy engine: Cedar decisions with reasons, merged obligations and JIT grants.

Deny by default. A request is allowed when a permit policy matches and no forbid does
(Cedar's rule), or, when no policy forbids it, by an active just-in-time grant scoped to
exactly this principal, action and resource. Anything that goes wrong inside (a policy
error, a bad attribute, the grant store or the audit unreachable) is a denial that says
why. Every decision is handed to the recorder.

Speed: the policy set is parsed once per load (:mod:`._store`); each resource's entity
JSON is computed once per load; per request the engine writes the principal's entity,
and keeps the parsed two-entity set of recent (principal, resource) pairs in a small LRU,
so a repeated caller costs one Cedar evaluation.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import cedarpy

from bastion.access.interface import (
    Action,
    Decision,
    Identity,
    IdentityKind,
    LogLevel,
    Obligations,
    PolicyError,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy._recorder import DecisionRecorder, NullRecorder
from bastion.access.policy._store import (
    PolicySnapshot,
    PolicyStore,
    resource_fragment,
    resource_type,
)
from bastion.core.ledger import Event

__all__ = ["GrantSource", "PolicyEngine", "merge_obligations"]

_PTYPE = {
    IdentityKind.USER: "User",
    IdentityKind.WORKLOAD: "Workload",
    IdentityKind.VENDOR: "Vendor",
}
_ACTION_UID = {a: {"type": "Action", "id": a.value} for a in Action}
_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RESERVED = frozenset({"roles", "mfa", "method"})
_LOG_RANK = {LogLevel.MINIMAL: 0, LogLevel.STANDARD: 1, LogLevel.FULL: 2}
_CACHE = 4096
_NO_OBLIGATIONS = Obligations()
MAX_CONTEXT_KEYS = 64
MAX_CONTEXT_STRING = 4096


class GrantSource(Protocol):
    def use(self, principal: str, action: Action, resource: ResourceRef) -> str | None: ...

    def flush(self) -> None: ...


def merge_obligations(snapshot: PolicySnapshot, policy_ids: Iterable[str]) -> Obligations:
    """The obligations of every allowing policy, the most restrictive value winning:
    redactions add up, coarsening and MFA stick, the latest rate class in the file's
    ``rate_classes`` wins, and the fullest log level wins."""
    rules = [snapshot.obligations[p] for p in policy_ids if p in snapshot.obligations]
    if not rules:
        return Obligations()
    redact: set[str] = set()
    coarsen = mfa = False
    rate, rate_rank = "default", snapshot.rate_rank.get("default", -1)
    level = LogLevel.STANDARD
    named_level = False
    for r in rules:
        redact.update(r.redact_fields)
        coarsen |= r.coarsen_scores
        mfa |= r.require_mfa
        if r.rate_class is not None and snapshot.rate_rank[r.rate_class] > rate_rank:
            rate, rate_rank = r.rate_class, snapshot.rate_rank[r.rate_class]
        if r.log_level is not None and (
            not named_level or _LOG_RANK[r.log_level] > _LOG_RANK[level]
        ):
            level, named_level = r.log_level, True
    return Obligations(
        redact_fields=frozenset(redact),
        coarsen_scores=coarsen,
        rate_class=rate,
        log_level=level,
        require_mfa=mfa,
    )


def _principal_fragment(identity: Identity) -> tuple[str, str, str]:
    ptype = _PTYPE[identity.kind]
    prefix = identity.kind.value + ":"
    pid = identity.id[len(prefix) :] if identity.id.startswith(prefix) else identity.id
    attrs: dict[str, Any] = {}
    for k, v in identity.attributes.items():
        if k in _RESERVED or not _ATTR.match(k):
            raise PolicyError(f"principal attribute {k!r} is reserved or not an identifier")
        if isinstance(v, bool | int | str):
            attrs[k] = v
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            attrs[k] = sorted(v)
        else:
            raise PolicyError(f"principal attribute {k!r} has an unsupported type")
    attrs["roles"] = sorted(identity.roles)
    attrs["mfa"] = identity.mfa
    attrs["method"] = identity.method.value
    if identity.spiffe_id and "spiffe_id" not in attrs:
        attrs["spiffe_id"] = identity.spiffe_id
    frag = json.dumps(
        {"uid": {"type": ptype, "id": pid}, "attrs": attrs, "parents": []},
        separators=(",", ":"),
        sort_keys=True,
    )
    return ptype, pid, frag


def _context(context: Mapping[str, object] | None) -> dict[str, Any] | None:
    if not context:
        return None
    if len(context) > MAX_CONTEXT_KEYS:
        raise PolicyError(f"context has more than {MAX_CONTEXT_KEYS} keys")
    out: dict[str, Any] = {}
    for k, v in context.items():
        if not isinstance(k, str) or not _ATTR.match(k):
            raise PolicyError(f"context key {str(k)[:40]!r} is not an identifier")
        if isinstance(v, bool | int) or (isinstance(v, str) and len(v) <= MAX_CONTEXT_STRING):
            out[k] = v
        elif (
            isinstance(v, list)
            and len(v) <= MAX_CONTEXT_KEYS
            and all(isinstance(x, str) and len(x) <= MAX_CONTEXT_STRING for x in v)
        ):
            out[k] = list(v)
        else:
            raise PolicyError(f"context value of {k!r} has an unsupported type or size")
    return out


class PolicyEngine:
    """:class:`~bastion.access.interface.Authorizer` over a policy directory."""

    def __init__(
        self,
        policies: PolicyStore | Path | str,
        *,
        recorder: DecisionRecorder | None = None,
        grants: GrantSource | None = None,
        resources: Iterable[ResourceRef] = (),
    ) -> None:
        self.store = (
            policies
            if isinstance(policies, PolicyStore)
            else PolicyStore(policies, resources=resources)
        )
        self.recorder: DecisionRecorder = recorder or NullRecorder()
        self.grants = grants
        self._entities: OrderedDict[str, cedarpy.Entities] = OrderedDict()
        self._principals: OrderedDict[tuple[Any, ...], tuple[str, str, str]] = OrderedDict()
        self._entities_for: str = self.store.snapshot.digest
        self._lock = threading.Lock()  # the two LRUs; guard replicas run threads too
        self._allow_cache: dict[tuple[str, ...], tuple[tuple[str, ...], Obligations]] = {}
        self._allow_for = ""

    @property
    def snapshot(self) -> PolicySnapshot:
        return self.store.snapshot

    def decide(
        self,
        identity: Identity,
        action: Action,
        resource: ResourceRef,
        context: Mapping[str, object] | None = None,
    ) -> Decision:
        snap = self.store.current()
        try:
            decision = self._decide(snap, identity, action, resource, context)
        except Exception as exc:  # deny by default: any failure inside is a denial
            decision = Decision(False, reasons=(f"denied: engine error: {_brief(exc)}",))
        try:
            self.recorder.record(self._event(snap, identity, action, resource, decision))
        except Exception as exc:  # nothing is allowed that cannot be audited
            decision = Decision(
                False,
                policies=decision.policies,
                reasons=(
                    *decision.reasons,
                    f"denied: the decision cannot be recorded: {_brief(exc)}",
                ),
                obligations=decision.obligations,
            )
        return decision

    def _principal(self, identity: Identity) -> tuple[str, str, str]:
        attrs = identity.attributes
        pkey: tuple[Any, ...] = (
            identity.id,
            identity.kind,
            identity.method,
            identity.roles,
            identity.mfa,
            identity.spiffe_id,
            tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items())
            if attrs
            else (),
        )
        got = self._principals.get(pkey)
        if got is None:
            got = _principal_fragment(identity)
            with self._lock:
                self._principals[pkey] = got
                if len(self._principals) > _CACHE:
                    self._principals.popitem(last=False)
        return got

    def _entity_set(
        self, snap: PolicySnapshot, key: tuple[ResourceKind, str] | None, pfrag: str, rfrag: str
    ) -> cedarpy.Entities:
        """The principal and the resource as a parsed entity set: a recent pair from the
        LRU, else the resource's parsed entity (kept per load) plus the principal."""
        if self._entities_for != snap.digest:  # a reload may change resource attributes
            with self._lock:
                self._entities = OrderedDict()
                self._entities_for = snap.digest
        pair = pfrag + "\n" + rfrag
        got = self._entities.get(pair)
        if got is not None:
            with self._lock:
                if pair in self._entities:
                    self._entities.move_to_end(pair)
            return got
        base = snap.resource_sets.get(key) if key is not None else None
        if base is None:
            base = cedarpy.Entities.from_json_str("[" + rfrag + "]")
        ents = base.with_added_json_str("[" + pfrag + "]")
        with self._lock:
            self._entities[pair] = ents
            if len(self._entities) > _CACHE:
                self._entities.popitem(last=False)
        return ents

    def _decide(
        self,
        snap: PolicySnapshot,
        identity: Identity,
        action: Action,
        resource: ResourceRef,
        context: Mapping[str, object] | None,
    ) -> Decision:
        action = Action(action)
        if identity.kind not in _PTYPE:
            return Decision(False, reasons=(f"denied: no policy speaks for {identity.kind}",))
        ptype, pid, pfrag = self._principal(identity)
        key: tuple[ResourceKind, str] | None = None
        if resource.attributes:
            rfrag = resource_fragment(resource)
        else:
            known = snap.resources.get((resource.kind, resource.id))
            if known is not None:
                rfrag, key = known, (resource.kind, resource.id)
            else:
                rfrag = resource_fragment(resource)
        request: dict[str, Any] = {
            "principal": {"type": ptype, "id": pid},
            "action": _ACTION_UID[action],
            "resource": {"type": resource_type(resource.kind), "id": resource.id},
        }
        ctx = _context(context)
        if ctx is not None:
            request["context"] = ctx
        result = cedarpy.is_authorized(
            request, snap.policy_set, self._entity_set(snap, key, pfrag, rfrag)
        )
        diag = result.diagnostics
        matched = [snap.ids.get(c, c) for c in diag.reasons]
        errors = [f"policy error: {e}"[:300] for e in diag.errors]
        if result.allowed:
            if errors:
                obligations = merge_obligations(snap, matched)
                reasons = tuple(_why(snap, p) for p in matched) + tuple(errors)
            else:
                reasons, obligations = self._allowing(snap, tuple(matched))
            if obligations.require_mfa and not identity.mfa:
                return Decision(
                    False,
                    policies=tuple(matched),
                    reasons=(*reasons, "denied: step-up needed: this action requires MFA"),
                    obligations=obligations,
                )
            return Decision(True, tuple(matched), reasons, obligations)
        forbids = [p for p in matched if snap.effects.get(p) == "forbid"]
        if forbids:
            return Decision(
                False,
                tuple(forbids),
                tuple(f"forbidden by {_why(snap, p)}" for p in forbids) + tuple(errors),
            )
        if self.grants is not None:
            grant_id = self.grants.use(identity.id, action, resource)
            if grant_id is not None:
                return Decision(
                    True,
                    (),
                    (f"allowed by just-in-time grant {grant_id}",),
                    Obligations(log_level=LogLevel.FULL),
                    grant_id=grant_id,
                )
        what = f"{identity.id} {action.value} {resource.kind.value}:{resource.id}"
        return Decision(False, (), (f"denied by default: no policy permits {what}", *errors))

    def _allowing(
        self, snap: PolicySnapshot, matched: tuple[str, ...]
    ) -> tuple[tuple[str, ...], Obligations]:
        """Reasons and merged obligations of a set of allowing policies, once per set and
        load (they depend on nothing else)."""
        if self._allow_for != snap.digest:
            self._allow_cache = {}
            self._allow_for = snap.digest
        got = self._allow_cache.get(matched)
        if got is None:
            got = (tuple(_why(snap, p) for p in matched), merge_obligations(snap, matched))
            if len(self._allow_cache) < _CACHE:
                self._allow_cache[matched] = got
        return got

    def _event(
        self,
        snap: PolicySnapshot,
        identity: Identity,
        action: Action,
        resource: ResourceRef,
        d: Decision,
    ) -> Event:
        data: dict[str, Any] = {
            "principal": identity.id,
            "method": str(identity.method),
            "action": str(action),
            "resource": f"{resource.kind}:{resource.id}",
            "allowed": d.allowed,
            "policies": list(d.policies),
            "reasons": [r[:200] for r in d.reasons[:5]],
            "policy_digest": snap.digest,
        }
        if d.grant_id:
            data["grant_id"] = d.grant_id
        o = d.obligations
        if o != _NO_OBLIGATIONS:  # what the edge had to do (the console's decisions page)
            data["obligations"] = {
                "redact_fields": sorted(o.redact_fields),
                "coarsen_scores": o.coarsen_scores,
                "rate_class": o.rate_class,
                "log_level": o.log_level.value,
                "require_mfa": o.require_mfa,
            }
        if identity.token_id:
            data["token_id"] = identity.token_id
        return Event("access.decision", data, identity.id[:200] or "anonymous")

    def close(self) -> None:
        """Write what is buffered: decisions, and grant uses not yet counted."""
        self.recorder.flush()
        if self.grants is not None:
            self.grants.flush()


def _why(snap: PolicySnapshot, pid: str) -> str:
    reason = snap.reasons.get(pid)
    return f"{pid}: {reason}" if reason else pid


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
