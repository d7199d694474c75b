"""Assembling a guard from its configuration: the one place the parts meet.

:func:`build_guard` checks the fronted model versions (signature and gate), resolves the
authorizer (given, or the access room's Cedar engine over ``policy_dir``; without one it
refuses to start: fail closed), the authenticator, the state store, the detection stages,
the sinks and the audit writer, and records the configuration in the ledger when it
changed. :func:`check_guard` does everything but serve, for ``bastion guard check``.
"""

from __future__ import annotations

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
from bastion.guard._config import (
    DetectorConfig,
    EndpointConfig,
    GuardConfig,
    config_digest,
    load_guard_config,
    record_config,
)
from bastion.guard._egress import EgressPolicy
from bastion.guard._guarded import GuardedModel
from bastion.guard._pipeline import EndpointRuntime, Pipeline
from bastion.guard._proxy import GuardProxy
from bastion.guard._startup import ModelCheck, check_model, require_verified
from bastion.guard._state import MemoryStateStore, RedisStateStore, open_state_store
from bastion.guard.interface import InputDetector, OutputFilter

__all__ = [
    "Guard",
    "GuardCheck",
    "build_guard",
    "check_guard",
    "check_guard_file",
    "egress_network_policy",
    "revoke_credential",
    "run_guard",
]

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
        """The in-process wrapper around ``model`` for ``endpoint`` (same pipeline); starts
        the audit writer (the proxy starts it with its lifespan)."""
        if self.audit is not None:
            self.audit.start()
        return GuardedModel(model, self.pipeline, endpoint)

    def revoke(self, token_id: str, ttl_s: float = 86_400.0) -> None:
        """Refuse this credential from now on, on every replica sharing the store."""
        self.store.revoke(token_id, ttl_s)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
        self.store.close()


def _policy_authorizer(ws: Workspace, config: GuardConfig, base_dir: Path) -> Authorizer:
    """The access room's Cedar engine over the config's ``policy_dir`` (inventory resources,
    JIT grants, decisions ledgered in batches); without a policy_dir: fail closed."""
    if config.policy_dir is None:
        raise ConfigError(
            "the guard has no authorizer: set policy_dir (Cedar policies) in its config; "
            "it refuses to start without one (fail closed)"
        )
    path = (base_dir / config.policy_dir).resolve()
    if not path.is_dir():
        raise ConfigError(f"policy_dir {config.policy_dir}: not a directory; no authorizer")
    from bastion.access.policy import LedgerRecorder, engine_for

    engine: Authorizer = engine_for(ws, path, recorder=LedgerRecorder(ws.ledger))
    return engine


#: the input stages a config may name under ``detectors``, and the output stages under
#: ``filters`` (``tool_allowlist`` is both: the request's and the answer's tool calls)
INPUT_STAGES = ("prada", "blacklight", "feature_squeezing", "prompt_injection", "tool_allowlist")
OUTPUT_STAGES = ("pii_redaction", "link_filter", "tool_allowlist")
_SQUEEZE_OPTIONS = frozenset({"detector_file", "model_file", "on_detect", "allow"})
_TOOL_MANIFEST_OPTIONS = frozenset({"manifest", "agent"})


def _squeezing(spec: DetectorConfig, base_dir: Path, digest: str | None) -> Any:
    """The robustness room's feature-squeezing detector from the JSON ``bastion redteam
    detect --save`` wrote, on the model file (scanned before it loads; it must be the
    fronted version's artifact when that version was verified)."""
    import json

    from bastion.guard.detect import SqueezingDetector
    from bastion.guard.interface import Verdict
    from bastion.robustness import FeatureSqueezingDetector, load_target

    o = dict(spec.options)
    unknown = sorted(set(o) - _SQUEEZE_OPTIONS)
    if unknown or "detector_file" not in o or "model_file" not in o:
        raise ConfigError(
            "detector feature_squeezing: options are detector_file and model_file (required), "
            f"on_detect and allow{'; unknown: ' + ', '.join(unknown) if unknown else ''}"
        )
    det_path = (base_dir / str(o["detector_file"])).resolve()
    try:
        raw = det_path.read_bytes()[: 1024 * 1024 + 1]
        cfg = json.loads(raw) if len(raw) <= 1024 * 1024 else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"detector feature_squeezing: cannot read {det_path.name} "
                          f"({type(exc).__name__})") from None  # fmt: skip
    if not isinstance(cfg, dict):
        raise ConfigError(f"detector feature_squeezing: {det_path.name} is not a detector "
                          "config (a JSON object of at most 1 MiB)")  # fmt: skip
    allow = o.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ConfigError("detector feature_squeezing: allow is a list of global names")
    loaded = load_target((base_dir / str(o["model_file"])).resolve(), allow=frozenset(allow))
    if digest is not None and loaded.digest != digest:
        raise ConfigError(
            f"detector feature_squeezing: {o['model_file']} is {loaded.digest[:19]}..., not "
            f"the fronted version {digest[:19]}...; refusing to start"
        )
    verdict = str(o.get("on_detect", "block")).upper()
    if verdict not in Verdict.__members__ or verdict == "ALLOW":
        raise ConfigError("detector feature_squeezing: on_detect is one of throttle, coarsen, "
                          "step_up, block")  # fmt: skip
    squeezer = FeatureSqueezingDetector.from_config(loaded.target, cfg)
    return SqueezingDetector(squeezer, on_detect=Verdict[verdict])


def _tool_allowlist(spec: DetectorConfig, base_dir: Path) -> Any:
    """The tool allowlist as options list it, or the agent's tools from the manifest."""
    from bastion.guard.llm import ToolCallFilter, llm_stage
    from bastion.manifest import load_manifest

    o = dict(spec.options)
    if not _TOOL_MANIFEST_OPTIONS & set(o):
        return llm_stage(spec.name, o)
    if set(o) != _TOOL_MANIFEST_OPTIONS:
        raise ConfigError("tool_allowlist from the manifest: give exactly manifest and agent")
    manifest = load_manifest((base_dir / str(o["manifest"])).resolve())
    return ToolCallFilter.from_manifest(manifest, str(o["agent"]))


def _stage(spec: DetectorConfig, store: Store, base_dir: Path, digest: str | None) -> Any:
    from bastion.guard import detect
    from bastion.guard.llm import llm_stage

    if spec.name in ("prada", "blacklight"):
        cls: Any = detect.PradaDetector if spec.name == "prada" else detect.BlacklightDetector
        try:
            return cls(store, **dict(spec.options))
        except TypeError as exc:
            raise ConfigError(f"{spec.name}: bad options ({str(exc)[:160]})") from None
    if spec.name == "feature_squeezing":
        return _squeezing(spec, base_dir, digest)
    if spec.name == "tool_allowlist":
        return _tool_allowlist(spec, base_dir)
    return llm_stage(spec.name, spec.options)


def _stages(
    endpoint: EndpointConfig, store: Store, base_dir: Path, digest: str | None = None
) -> tuple[list[Any], list[Any]]:
    """The endpoint's configured (detectors, filters). A PRADA detector in per-class mode
    (``label_field``) also reads the answer: it is listed among the filters on its own.
    An unknown stage, a stage in the wrong list or bad options refuse the start."""
    dets: list[Any] = []
    fils: list[Any] = []
    for kind, specs, known, out in (("detector", endpoint.detectors, INPUT_STAGES, dets),
                                    ("filter", endpoint.filters, OUTPUT_STAGES, fils)):  # fmt: skip
        for spec in specs:
            if spec.name not in known:
                raise ConfigError(f"endpoint {endpoint.name}: {kind} {spec.name!r} is not one a "
                                  f"config can name there (expected one of {', '.join(known)}); "
                                  "refusing to start")  # fmt: skip
            try:
                out.append(_stage(spec, store, base_dir, digest))
            except ConfigError:
                raise
            except BastionError as exc:
                raise ConfigError(f"endpoint {endpoint.name}: {kind} {spec.name}: "
                                  f"{exc.message[:200]}") from None  # fmt: skip
    from bastion.guard.detect import PradaDetector

    for d in dets:
        if isinstance(d, PradaDetector) and d.label_field is not None and d not in fils:
            fils.insert(0, d)  # per-class mode learns each answer's label first
    return dets, fils


class _FanOut:
    """The configured sinks as one (what the detections wrap): a batch goes to each; one
    sink's failure is logged and counted, never hides the batch from the others or from
    the detections (a remote sink is spooled, so it does not lose it either)."""

    name = "guard-sinks"

    def __init__(self, sinks: Sequence[Any]) -> None:
        self.sinks = list(sinks)
        self.failures = 0

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        import logging

        for sink in self.sinks:
            try:
                sink.send(events)
            except BastionError as exc:
                self.failures += 1
                logging.getLogger("bastion.guard.audit").warning(
                    "guard audit: sink %s failed: %s", sink.name, exc.message
                )

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except BastionError:
                continue


def _sinks(ws: Workspace, config: GuardConfig, *, actor: str = "guard") -> list[Any]:
    """The configured sinks (remote ones spooled on disk); with ``detections`` (default)
    behind the monitor room's DetectingSink, whose findings become ``monitor.detection``
    ledger events as they are raised."""
    from bastion.monitor import DetectingSink, SpooledSink, ledger_recorder, open_sink

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
    if not config.detections:
        return out
    return [DetectingSink(_FanOut(out), on_detection=ledger_recorder(ws, actor=actor))]


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
    authz = authorizer if authorizer is not None else _policy_authorizer(ws, config, base_dir)
    authn = (
        authenticator
        if authenticator is not None
        else default_authenticator(ws, audience=config.token_audience)
    )
    st = store if store is not None else open_state_store(config.redis_url, namespace=config.name)
    endpoints: dict[str, EndpointRuntime] = {}
    for e in config.endpoints:
        cdets, cfils = _stages(e, st, base_dir, digests.get(e.name))
        dets = list((detectors or {}).get(e.name, ())) + cdets
        fils = list((filters or {}).get(e.name, ())) + cfils
        endpoints[e.name] = EndpointRuntime(e, base_dir=base_dir, detectors=dets, filters=fils,
                                            digest=digests.get(e.name))  # fmt: skip
    from bastion.monitor import InputPolicy

    audit = AuditWriter(
        guard=config.name, ledger=ws.ledger, sinks=_sinks(ws, config, actor=actor),
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
        _policy_authorizer(ws, config, base_dir)
    except BastionError as exc:
        problems.append(exc.message)
    try:
        st = open_state_store(config.redis_url, namespace=config.name)
    except BastionError as exc:
        problems.append(exc.message)
        st = MemoryStateStore()
    for e in config.endpoints:
        try:
            dets, fils = _stages(e, st, base_dir)
            EndpointRuntime(e, base_dir=base_dir, detectors=dets, filters=fils)
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


def check_guard_file(ws: Workspace, path: Path) -> GuardCheck:
    """``bastion guard check``: the config at ``path`` validated, and every start-up check."""
    config, base = load_guard_config(path)
    return check_guard(ws, config, base)


def run_guard(ws: Workspace, path: Path, *, host: str | None = None, port: int | None = None,
              actor: str = "cli") -> None:  # fmt: skip
    """``bastion guard run``: build the guard from ``path`` (refusing to start when a model
    version does not verify or no authorizer is configured) and serve it until stopped."""
    from bastion.guard._tls import serve

    config, base = load_guard_config(path)
    guard = build_guard(ws, config, base, actor=actor)
    tls = config.tls
    try:
        serve(
            guard.proxy, host=host or config.host, port=port or config.port,
            certfile=str(base / tls.cert) if tls else None,
            keyfile=str(base / tls.key) if tls else None,
            client_ca=str(base / tls.client_ca) if tls and tls.client_ca else None,
            require_client_cert=bool(tls and tls.require_client_cert),
        )  # fmt: skip
    finally:
        guard.close()


def revoke_credential(
    ws: Workspace, path: Path, token_id: str, *, ttl_s: float = 86_400.0, actor: str = "cli"
) -> None:
    """Refuse a credential (a token id, jti or certificate serial) on every replica that
    shares the config's state store, at once; a ``guard.revocation`` ledger event."""
    from bastion.core.errors import InputError
    from bastion.core.ledger import Event

    if not token_id or len(token_id) > 200:
        raise InputError("token id: expected 1-200 characters")
    config, _ = load_guard_config(path)
    store = open_state_store(config.redis_url, namespace=config.name)
    try:
        store.revoke(token_id, ttl_s)
    finally:
        store.close()
    ws.ledger.append([Event("guard.revocation", {"guard": config.name, "token_id": token_id,
                                                 "ttl_s": ttl_s, "store": store.name}, actor)])  # fmt: skip


def egress_network_policy(path: Path, *, namespace: str = "default") -> dict[str, Any]:
    """The config's egress allowlist as a Kubernetes NetworkPolicy document."""
    from bastion.guard._egress import network_policy

    config, _ = load_guard_config(path)
    return network_policy(config.egress, name=f"{config.name}-egress", namespace=namespace,
                          pod_labels={"app": "bastion-guard", "bastion.dev/guard": config.name})  # fmt: skip
