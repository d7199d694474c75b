"""Assembling a guard from its configuration: the one place the parts meet.

:func:`build_guard` checks the fronted model versions (signature and gate), resolves the
authorizer (given, or the access room's Cedar engine over ``policy_dir``; without one it
refuses to start: fail closed), the authenticator, the state store, the detection stages,
the sinks and the audit writer, and records the configuration in the ledger when it
changed. :func:`check_guard` does everything but serve, for ``bastion guard check``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.access.interface import Authenticator, Authorizer
from bastion.core.errors import BastionError, ConfigError
from bastion.core.workspace import Workspace
from bastion.guard._audit import AuditWriter
from bastion.guard._auth import default_authenticator
from bastion.guard._config import DetectorConfig, GuardConfig, config_digest, record_config
from bastion.guard._egress import EgressPolicy
from bastion.guard._guarded import GuardedModel
from bastion.guard._pipeline import EndpointRuntime, Pipeline
from bastion.guard._proxy import GuardProxy
from bastion.guard._startup import ModelCheck, check_model, require_verified
from bastion.guard._state import MemoryStateStore, RedisStateStore, open_state_store
from bastion.guard.interface import InputDetector, OutputFilter

__all__ = ["Guard", "GuardCheck", "build_guard", "check_guard"]

Store = MemoryStateStore | RedisStateStore


@dataclass
class Guard:
    config: GuardConfig
    pipeline: Pipeline
    proxy: GuardProxy
    egress: EgressPolicy
    store: Store
    audit: AuditWriter | None
    digests: dict[str, str] = field(default_factory=dict)
    config_event: str | None = None

    def wrap(self, model: Any, endpoint: str) -> GuardedModel:
        """The in-process wrapper around ``model`` for ``endpoint`` (same pipeline)."""
        return GuardedModel(model, self.pipeline, endpoint)

    def revoke(self, token_id: str, ttl_s: float = 86_400.0) -> None:
        """Refuse this credential from now on, on every replica sharing the store."""
        self.store.revoke(token_id, ttl_s)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
        self.store.close()


def _policy_authorizer(config: GuardConfig, base_dir: Path) -> Authorizer:
    if config.policy_dir is None:
        raise ConfigError(
            "the guard has no authorizer: set policy_dir (Cedar policies) in its config; "
            "it refuses to start without one (fail closed)"
        )
    try:
        mod: Any = importlib.import_module("bastion.access.policy")
    except ImportError:
        raise ConfigError("the Cedar policy engine (bastion.access.policy) is not installed: "
                          "the guard refuses to start without an authorizer") from None  # fmt: skip
    engine_cls = getattr(mod, "PolicyEngine", None)
    if engine_cls is None:
        raise ConfigError("bastion.access.policy offers no PolicyEngine: no authorizer")
    path = (base_dir / config.policy_dir).resolve()
    loader = getattr(engine_cls, "from_dir", None)
    engine = loader(path) if callable(loader) else engine_cls(path)
    if not isinstance(engine, Authorizer):
        raise ConfigError("the policy engine is not an Authorizer")
    return engine


def _stages(specs: Sequence[DetectorConfig], store: Store, kind: str) -> list[Any]:
    if not specs:
        return []
    try:
        mod: Any = importlib.import_module("bastion.guard.detect")
    except ImportError:
        mod = None
    build = getattr(mod, "build_stage", None) if mod is not None else None
    if build is None:
        raise ConfigError(f"{kind} {specs[0].name!r}: the guard's detection stages are not "
                          "installed; refusing to start without them")  # fmt: skip
    return [build(s.name, dict(s.options), store) for s in specs]


def _sinks(ws: Workspace, config: GuardConfig) -> list[Any]:
    from bastion.monitor import SpooledSink, open_sink

    out: list[Any] = []
    replica = os.environ.get("BASTION_GUARD_REPLICA") or str(os.getpid())
    for i, s in enumerate(config.sinks):
        token = os.environ.get(s.token_env) if s.token_env else None
        sink = open_sink(s.kind, s.target, style=s.style, token=token)
        if s.kind == "file":
            out.append(sink)
        else:
            spool = ws.settings.home / "guard-spool" / config.name / f"{i}-{replica}"
            out.append(SpooledSink(sink, spool))
    return out


def build_guard(
    ws: Workspace,
    config: GuardConfig,
    base_dir: Path,
    *,
    authenticator: Authenticator | None = None,
    authorizer: Authorizer | None = None,
    detectors: Mapping[str, Sequence[InputDetector]] | None = None,
    filters: Mapping[str, Sequence[OutputFilter]] | None = None,
    store: Store | None = None,
    verify_models: bool = True,
    actor: str = "guard",
) -> Guard:
    digests = require_verified(ws, config.endpoints) if verify_models else {}
    authz = authorizer if authorizer is not None else _policy_authorizer(config, base_dir)
    authn = (
        authenticator
        if authenticator is not None
        else default_authenticator(ws, audience=config.token_audience)
    )
    st = store if store is not None else open_state_store(config.redis_url)
    endpoints: dict[str, EndpointRuntime] = {}
    for e in config.endpoints:
        dets = list((detectors or {}).get(e.name, ())) + _stages(e.detectors, st, "detector")
        fils = list((filters or {}).get(e.name, ())) + _stages(e.filters, st, "filter")
        endpoints[e.name] = EndpointRuntime(e, base_dir=base_dir, detectors=dets, filters=fils,
                                            digest=digests.get(e.name))  # fmt: skip
    from bastion.monitor import InputPolicy

    audit = AuditWriter(
        guard=config.name, ledger=ws.ledger, sinks=_sinks(ws, config),
        policy=InputPolicy.hashed(ws), ledger_mode=config.audit.ledger,
        max_queue=config.limits.audit_queue, flush_interval_s=config.audit.flush_interval_s,
    )  # fmt: skip
    pipeline = Pipeline(config, endpoints, authenticator=authn, authorizer=authz, store=st,
                        audit=audit)  # fmt: skip
    egress = EgressPolicy(config.egress)
    proxy = GuardProxy(pipeline, egress)
    event = record_config(ws, config, actor=actor)
    return Guard(config, pipeline, proxy, egress, st, audit, digests, event)


@dataclass(frozen=True)
class GuardCheck:
    name: str
    digest: str
    ok: bool
    models: tuple[ModelCheck, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": self.digest, "ok": self.ok,
                "models": [m.to_dict() for m in self.models],
                "problems": list(self.problems)}  # fmt: skip


def check_guard(ws: Workspace, config: GuardConfig, base_dir: Path) -> GuardCheck:
    """Validate everything ``guard run`` needs, without serving: model versions, the
    authorizer, schemas and references, detectors, the state store, the egress rules."""
    problems: list[str] = []
    models = tuple(check_model(ws, e) for e in config.endpoints)
    for m in models:
        problems.extend(f"endpoint {m.endpoint}: {r}" for r in m.reasons)
    try:
        _policy_authorizer(config, base_dir)
    except BastionError as exc:
        problems.append(exc.message)
    try:
        st = open_state_store(config.redis_url)
    except BastionError as exc:
        problems.append(exc.message)
        st = MemoryStateStore()
    for e in config.endpoints:
        try:
            EndpointRuntime(e, base_dir=base_dir, detectors=_stages(e.detectors, st, "detector"),
                            filters=_stages(e.filters, st, "filter"))  # fmt: skip
        except BastionError as exc:
            problems.append(exc.message)
    egress = EgressPolicy(config.egress)
    for e in config.endpoints:
        try:
            egress.check(e.upstream)
        except BastionError as exc:
            problems.append(f"endpoint {e.name}: {exc.message}")
    st.close()
    return GuardCheck(config.name, config_digest(config), not problems, models, tuple(problems))
