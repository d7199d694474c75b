"""The guard's configuration: a YAML document validated like the system manifest.

It says which endpoint fronts which model version (``name@version``), where the upstream
is, what a request must look like (a JSON Schema), the feature order and the training
reference for range checks, limits, timeouts, the priority class, the fallback answer,
the detectors, the policy directory, the event sinks and the egress allowlist. Loading
it is :func:`load_guard_config`; :func:`record_config` ledgers it when it changed.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from bastion.access.interface import Action
from bastion.core.canonical import canonical_json
from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.core.ledger import Event

__all__ = [
    "BreakerConfig",
    "DetectorConfig",
    "EgressRule",
    "EndpointConfig",
    "EndpointKind",
    "FallbackConfig",
    "GuardConfig",
    "LimitsConfig",
    "OutputConfig",
    "Priority",
    "RateClass",
    "SinkConfig",
    "TlsConfig",
    "config_digest",
    "load_guard_config",
    "parse_guard_config",
    "record_config",
]

MAX_CONFIG_BYTES = 1024 * 1024
_CONFIG = ConfigDict(extra="forbid", frozen=True)
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
ModelRefStr = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}@[A-Za-z0-9_.+-]{1,64}$")
]


class EndpointKind(enum.StrEnum):
    TABULAR = "tabular"
    LLM = "llm"


class Priority(enum.IntEnum):
    """Shedding order: under overload the lowest class is refused first. Admin and export
    calls are always treated as ``bulk``, whatever their endpoint says."""

    BULK = 0
    NORMAL = 1
    CRITICAL = 2


class _Strict(BaseModel):
    model_config = _CONFIG


class RateClass(_Strict):
    rate_per_s: float = Field(gt=0, le=1_000_000)
    burst: float = Field(gt=0, le=10_000_000)
    #: a fixed daily quota per client and endpoint (None: no quota)
    quota_per_day: int | None = Field(default=None, ge=1)


class BreakerConfig(_Strict):
    failures: int = Field(default=5, ge=1, le=1000)
    reset_after_s: float = Field(default=10.0, gt=0, le=3600)


class FallbackConfig(_Strict):
    """What to answer when the upstream is shed, open or failing (instead of a bare 503)."""

    status: int = Field(default=200, ge=200, le=599)
    body: dict[str, Any]


class OutputConfig(_Strict):
    #: the answer's label field (kept when scores are coarsened)
    label_field: str = "label"
    #: fields that carry scores: removed by the coarsen obligation or a COARSEN verdict
    score_fields: tuple[str, ...] = ("probability", "probabilities", "score", "scores",
                                     "confidence", "logits", "proba")  # fmt: skip
    #: LLM endpoints: where the completion text is (dotted, list indices as numbers)
    completion_path: str = "choices.0.message.content"


class DetectorConfig(_Strict):
    name: Name
    options: dict[str, Any] = Field(default_factory=dict)


class EndpointConfig(_Strict):
    name: Name
    upstream: str
    kind: EndpointKind = EndpointKind.TABULAR
    model: ModelRefStr
    #: the registry stage the version must be in (its gate passed for it) to be fronted
    require_stage: Literal["staging", "production"] = "production"
    action: Action = Action.INVOKE
    #: the request's JSON Schema, inline or in a file next to the config
    request_schema: dict[str, Any] | None = None
    request_schema_file: str | None = None
    #: tabular endpoints: the feature order, and the field of the body that holds them
    features: tuple[str, ...] = ()
    features_field: str = "features"
    #: the training reference (CSV or Parquet) for range checks, and the margin around its
    #: range (a fraction of the span) a value may lie outside before it is refused
    reference: str | None = None
    range_margin: float = Field(default=0.1, ge=0, le=10)
    categorical: tuple[str, ...] = ()
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    priority: Literal["bulk", "normal", "critical"] = "normal"
    breaker: BreakerConfig = BreakerConfig()
    fallback: FallbackConfig | None = None
    output: OutputConfig = OutputConfig()
    detectors: tuple[DetectorConfig, ...] = ()
    filters: tuple[DetectorConfig, ...] = ()
    #: resource attributes handed to the authorizer (classification, owner, tier)
    attributes: dict[str, str | int | bool] = Field(default_factory=dict)

    @field_validator("upstream")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        if u.username or u.password:
            raise ValueError("credentials in the upstream URL are not allowed")
        return v

    @model_validator(mode="after")
    def _shape(self) -> EndpointConfig:
        if self.request_schema is not None and self.request_schema_file is not None:
            raise ValueError("give request_schema or request_schema_file, not both")
        if self.kind is EndpointKind.TABULAR and not self.features:
            raise ValueError("a tabular endpoint names its features (the model's order)")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features: a name is listed twice")
        return self

    @property
    def priority_class(self) -> Priority:
        return Priority[self.priority.upper()]

    @property
    def model_name(self) -> str:
        return self.model.split("@", 1)[0]

    @property
    def model_version(self) -> str:
        return self.model.split("@", 1)[1]


class EgressRule(_Strict):
    """One allowed destination. A host name's resolved addresses must be public unless
    ``allow_internal``; an IP literal is allowed as written."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    allow_internal: bool = False

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return False
        return True


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=1024 * 1024, ge=64, le=64 * 1024 * 1024)
    #: the whole body must arrive within this many seconds (slow-loris)
    body_timeout_s: float = Field(default=5.0, gt=0, le=300)
    #: requests in flight at once; past it, requests are shed by priority
    max_concurrency: int = Field(default=256, ge=1, le=100_000)
    #: the share of ``max_concurrency`` bulk (admin/export) calls may use; normal calls
    #: may use up to ``normal_share``; critical calls the whole
    bulk_share: float = Field(default=0.5, gt=0, le=1)
    normal_share: float = Field(default=0.9, gt=0, le=1)
    #: the audit queue's bound: when full, requests are refused (nothing unaudited)
    audit_queue: int = Field(default=50_000, ge=100, le=10_000_000)


class SinkConfig(_Strict):
    kind: Literal["file", "http", "syslog", "redis"]
    target: str = Field(min_length=1, max_length=2048)
    style: str = "splunk_hec"
    #: the name of an environment variable holding the sink's token (never the token)
    token_env: str | None = None


class TlsConfig(_Strict):
    cert: str
    key: str
    #: the CA bundle client certificates must chain to; with it, mTLS identities are read
    client_ca: str | None = None
    require_client_cert: bool = False


class AuditConfig(_Strict):
    #: which requests become ledger events: every one, or only refusals and detections
    ledger: Literal["all", "refusals"] = "all"
    #: how long the audit writer gathers events before a batch (seconds)
    flush_interval_s: float = Field(default=0.05, gt=0, le=10)


class GuardConfig(_Strict):
    kind: Literal["GuardConfig"] = "GuardConfig"
    name: Name
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    tls: TlsConfig | None = None
    policy_dir: str | None = None
    endpoints: tuple[EndpointConfig, ...] = Field(min_length=1)
    rate_classes: dict[str, RateClass] = Field(
        default_factory=lambda: {"default": RateClass(rate_per_s=100, burst=200)}
    )
    limits: LimitsConfig = LimitsConfig()
    egress: tuple[EgressRule, ...] = ()
    sinks: tuple[SinkConfig, ...] = ()
    #: run the monitor room's real-time detections (denial bursts, extraction and probing
    #: findings...) over the guard's OCSF events; each raises a ``monitor.detection`` at once
    detections: bool = True
    audit: AuditConfig = AuditConfig()
    #: Redis for shared state (rate limits, revocations, detector state); default
    #: ``BASTION_REDIS_URL``, in process without either
    redis_url: str | None = None
    #: the ``aud`` a Bastion JWT must carry to be accepted here (default: the guard's name)
    audience: str | None = Field(default=None, min_length=1, max_length=256)

    @property
    def token_audience(self) -> str:
        return self.audience or self.name

    @model_validator(mode="after")
    def _refs(self) -> GuardConfig:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError("endpoints: two endpoints share a name")
        if "default" not in self.rate_classes:
            raise ValueError("rate_classes: a 'default' class is required")
        for e in self.endpoints:
            u = urlsplit(e.upstream)
            port = u.port or (443 if u.scheme == "https" else 80)
            if not any(r.host == u.hostname and r.port == port for r in self.egress):
                raise ValueError(
                    f"endpoint {e.name}: its upstream {u.hostname}:{port} is not in the egress "
                    "allowlist"
                )
        return self


def _locate(loc: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    node: Any = raw
    for p in loc:
        if isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(str(name) if isinstance(name, str) else str(p))
        else:
            node = node.get(p) if isinstance(node, dict) else None
            parts.append(str(p))
    return ".".join(parts) or "(top level)"


def parse_guard_config(text: str | bytes, *, what: str = "guard config") -> GuardConfig:
    return load_document(
        text, GuardConfig, what=what, max_bytes=MAX_CONFIG_BYTES,
        shape="a mapping with name, endpoints and egress", locate=_locate,
    )  # fmt: skip


def load_guard_config(path: Path) -> tuple[GuardConfig, Path]:
    """The config at ``path`` and the directory relative paths in it are read from."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_CONFIG_BYTES} bytes")
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    return parse_guard_config(text, what=path.name), path.resolve().parent


def config_digest(config: GuardConfig) -> str:
    body = canonical_json(json.loads(config.model_dump_json()))
    return "sha256:" + hashlib.sha256(body).hexdigest()


def record_config(ws: Any, config: GuardConfig, *, actor: str) -> str | None:
    """Ledger ``guard.config`` when this config's digest differs from the last one recorded
    under its name; returns the new event id (None when unchanged)."""
    digest = config_digest(config)
    previous: str | None = None
    for e in ws.ledger.entries(kind="guard.config", limit=200, newest_first=True):
        if e.data.get("name") == config.name:
            previous = e.data.get("digest")
            break
    if previous == digest:
        return None
    data = {
        "name": config.name,
        "digest": digest,
        "previous": previous,
        "endpoints": [
            {"name": e.name, "model": e.model, "upstream": e.upstream, "kind": e.kind.value}
            for e in config.endpoints
        ],
        "egress": [f"{r.host}:{r.port}" for r in config.egress],
        "policy_dir": config.policy_dir,
    }
    (entry,) = ws.ledger.append([Event("guard.config", data, actor)])
    return str(entry.event_id)
