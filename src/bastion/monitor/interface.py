"""The monitoring room's interface: OCSF event types, the input-logging policy and the Sink
protocol. Other rooms (the guard, incidents) build events here and hand them to a sink.

Events are OCSF 1.3 classes: API Activity (6003) for every inference and model-management
call, Authentication (3002) and Detection Finding (2004, with MITRE ATLAS technique IDs).
The AI fields (model digest and version, inputs or their keyed hash, output, confidence,
latency, decision obligations) live in the ``ai`` object of the documented OCSF extension
``bastion_ai`` (docs/monitor.md), named in ``metadata.extensions`` of every event.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from bastion.core.errors import BastionError, InputError

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "ATLAS_TECHNIQUES",
    "EXTENSION",
    "OCSF_VERSION",
    "Actor",
    "ApiActivity",
    "Authentication",
    "DetectionFinding",
    "Inference",
    "InputMode",
    "InputPolicy",
    "ModelRef",
    "OcsfEvent",
    "Severity",
    "Sink",
    "SinkError",
    "SpoolFullError",
    "input_hash_key",
]

OCSF_VERSION = "1.3.0"
#: The OCSF extension that carries the AI fields (docs/monitor.md, "OCSF extension").
EXTENSION: Mapping[str, str] = {"name": "bastion_ai", "uid": "999", "version": "1.0.0"}
PRODUCT: Mapping[str, Any] = {"name": "Bastion", "vendor_name": "Bastion", "version": "0.1.0"}

#: MITRE ATLAS techniques a Detection Finding may name (id -> name). Others are refused.
ATLAS_TECHNIQUES: Mapping[str, str] = {
    "AML.T0024": "Exfiltration via AI Inference API",
    "AML.T0024.000": "Infer Training Data Membership",
    "AML.T0024.001": "Invert AI Model",
    "AML.T0024.002": "Extract AI Model",
    "AML.T0040": "AI Model Inference API Access",
    "AML.T0043": "Craft Adversarial Data",
    "AML.T0051": "LLM Prompt Injection",
    "AML.T0054": "LLM Jailbreak",
    "AML.T0057": "LLM Data Leakage",
    "AML.T0029": "Denial of AI Service",
    "AML.T0034": "Cost Harvesting",
    "AML.T0020": "Poison Training Data",
    "AML.T0018": "Manipulate AI Model",
    "AML.T0010": "AI Supply Chain Compromise",
    "AML.T0025": "Exfiltration via Cyber Means",
}

MAX_TEXT = 1024  # any single string field of an event
MAX_FEATURES = 1000
MAX_EVENT_BYTES = 256 * 1024  # one serialized event


class SinkError(BastionError):
    """A sink refused or could not take a batch (the sink is down, or it answered an error).
    Messages name the sink and the failure, never credentials or event contents."""

    exit_code = 3
    http_status = 503
    title = "Sink unavailable"


class SpoolFullError(SinkError):
    """Back-pressure: the sink is down and the on-disk spool holds as much as it may. The
    event was not accepted; the caller must slow down or fail the request."""

    title = "Spool full"


class Severity(enum.IntEnum):
    """OCSF ``severity_id``."""

    UNKNOWN = 0
    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5
    FATAL = 6


def _text(value: object, name: str, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name}: expected a string")
    if len(value) > limit:
        raise InputError(f"{name}: longer than {limit} characters")
    return value


def _opt_text(value: object, name: str) -> str | None:
    return None if value is None else _text(value, name)


class InputMode(enum.StrEnum):
    """How an inference's inputs are logged."""

    RAW = "raw"  # as given (the log then holds what the caller sent)
    HASH = "hash"  # keyed HMAC-SHA256 of the canonical JSON (and of each feature)
    MASK = "mask"  # string values through a masker (the privacy room's operators)


def input_hash_key(ws: Workspace) -> bytes:
    """The workspace's key for input hashes, derived from its local secret: hashes are
    comparable within a workspace and useless for a dictionary attack outside it."""
    return hmac.new(ws.keyring.secret(), b"bastion monitor input-hash v1", hashlib.sha256).digest()


def _canonical(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


@dataclass(frozen=True)
class InputPolicy:
    """What an inference event keeps of its inputs. ``HASH`` needs ``key`` (see
    :func:`input_hash_key`); ``MASK`` needs ``masker`` (for every string feature) or
    ``feature_maskers`` (per feature), each a ``Callable[[str], str]``: the privacy room's
    de-identification operators (:meth:`masking` takes them as they are) or any function
    of the caller's. Under ``MASK`` a string feature with no masker of its own and no
    default is redacted (``[redacted]``), never logged raw."""

    mode: InputMode = InputMode.HASH
    key: bytes | None = None
    masker: Callable[[str], str] | None = None
    feature_maskers: Mapping[str, Callable[[str], str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode is InputMode.HASH and (self.key is None or len(self.key) < 16):
            raise InputError("input policy 'hash' needs a key of at least 16 bytes")
        if self.mode is InputMode.MASK and self.masker is None and not self.feature_maskers:
            raise InputError("input policy 'mask' needs a masker")

    @classmethod
    def hashed(cls, ws: Workspace) -> InputPolicy:
        """A ``HASH`` policy keyed with the workspace's input-hash key."""
        return cls(InputMode.HASH, key=input_hash_key(ws))

    @classmethod
    def masking(
        cls, default: Any = None, per_feature: Mapping[str, Any] | None = None
    ) -> InputPolicy:
        """A ``MASK`` policy from the privacy room's operators (``bastion.privacy.deid``:
        ``MaskOp``, ``HashOp``, ``TokenizeOp``, ``FpeOp`` ...; anything with ``one(str)``)
        or plain callables."""

        def fn(op: Any) -> Callable[[str], str]:
            one = getattr(op, "one", None)
            f = one if callable(one) else op
            if not callable(f):
                raise InputError("input policy 'mask': a masker must be callable or an operator")
            return cast(Callable[[str], str], f)

        return cls(
            InputMode.MASK,
            masker=fn(default) if default is not None else None,
            feature_maskers={k: fn(v) for k, v in (per_feature or {}).items()},
        )

    def _mac(self, value: object) -> str:
        assert self.key is not None
        return "hmac-sha256:" + hmac.new(self.key, _canonical(value), hashlib.sha256).hexdigest()

    def apply(self, features: Mapping[str, Any]) -> dict[str, Any]:
        if len(features) > MAX_FEATURES:
            raise InputError(f"inputs: more than {MAX_FEATURES} features")
        names = [_text(k, "inputs key", limit=256) for k in features]
        if self.mode is InputMode.RAW:
            return {"mode": "raw", "features": dict(features)}
        if self.mode is InputMode.HASH:
            return {
                "mode": "hash",
                "digest": self._mac(dict(features)),
                "features": {k: self._mac(features[k]) for k in names},
            }
        masked: dict[str, Any] = {}
        for k in names:
            v = features[k]
            m = self.feature_maskers.get(k, self.masker)
            if v is None or isinstance(v, (bool, int, float)):
                masked[k] = v
            elif m is None:
                masked[k] = "[redacted]"
            elif isinstance(v, str):
                masked[k] = m(v)
            else:  # nested values: masked as their JSON text
                masked[k] = m(_canonical(v).decode())
        return {"mode": "mask", "features": masked}


@dataclass(frozen=True)
class Actor:
    """Who made the call: the principal (token name or user), its token id, the client."""

    principal: str
    token_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None

    def to_ocsf(self) -> tuple[dict[str, Any], dict[str, Any]]:
        user: dict[str, Any] = {"name": _text(self.principal, "actor.principal")}
        if self.token_id is not None:
            user["uid"] = _text(self.token_id, "actor.token_id")
        src: dict[str, Any] = {}
        if self.client_ip is not None:
            src["ip"] = _text(self.client_ip, "actor.client_ip", limit=64)
        if self.user_agent is not None:
            src["agent_list"] = [{"name": _text(self.user_agent, "actor.user_agent")}]
        return {"user": user}, src


@dataclass(frozen=True)
class ModelRef:
    """The model that answered: name, version and its model-signing manifest digest."""

    name: str
    version: str | None = None
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": _text(self.name, "model.name")}
        if self.version is not None:
            d["version"] = _text(self.version, "model.version")
        if self.digest is not None:
            d["digest"] = _text(self.digest, "model.digest")
        return d


@dataclass(frozen=True)
class Inference:
    """The AI fields of one inference (the ``ai`` object of the extension)."""

    model: ModelRef
    inputs: Mapping[str, Any] = field(default_factory=dict)
    output: Any = None
    confidence: float | None = None
    latency_ms: float | None = None
    obligations: tuple[str, ...] = ()
    decision: str | None = None

    def to_dict(self, policy: InputPolicy) -> dict[str, Any]:
        d: dict[str, Any] = {"model": self.model.to_dict(), "input": policy.apply(self.inputs)}
        if self.output is not None:
            d["output"] = self.output
        for name, v in (("confidence", self.confidence), ("latency_ms", self.latency_ms)):
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise InputError(f"inference.{name}: expected a finite number")
                d[name] = float(v)
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise InputError("inference.confidence: must lie in [0, 1]")
        if self.obligations:
            d["obligations"] = [_text(o, "inference.obligations") for o in self.obligations]
        if self.decision is not None:
            d["decision"] = _text(self.decision, "inference.decision")
        return d


def _base(
    class_uid: int,
    category_uid: int,
    class_name: str,
    category_name: str,
    activity_id: int,
    activity_name: str,
    severity: Severity,
    time_ms: int | None,
    message: str | None,
    uid: str | None,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": int(severity),
        "severity": severity.name.title(),
        "time": int(time_ms if time_ms is not None else time.time() * 1000),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": uid or str(uuid.uuid4()),
            "product": dict(PRODUCT),
            "extensions": [dict(EXTENSION)],
        },
    }
    if message is not None:
        d["message"] = _text(message, "message")
    return d


def _status(ok: bool, detail: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {"status_id": 1 if ok else 2, "status": "Success" if ok else "Failure"}
    if detail is not None:
        d["status_detail"] = _text(detail, "status_detail")
    return d


_API_ACTIVITIES = {"create": 1, "read": 2, "update": 3, "delete": 4, "other": 99}


@dataclass(frozen=True)
class ApiActivity:
    """OCSF API Activity (6003): an inference (``operation="predict"``, activity Read) or a
    model-management call (register, promote, download, export ...)."""

    actor: Actor
    operation: str
    service: str = "bastion-gateway"
    activity: str = "read"
    ok: bool = True
    status_detail: str | None = None
    inference: Inference | None = None
    policy: InputPolicy | None = None
    severity: Severity = Severity.INFORMATIONAL
    time_ms: int | None = None
    message: str | None = None
    uid: str | None = None
    request_uid: str | None = None

    def to_ocsf(self) -> dict[str, Any]:
        if self.activity not in _API_ACTIVITIES:
            raise InputError(f"activity: expected one of {', '.join(_API_ACTIVITIES)}")
        d = _base(
            6003, 6, "API Activity", "Application Activity", _API_ACTIVITIES[self.activity],
            self.activity.title(), self.severity, self.time_ms, self.message, self.uid,
        )  # fmt: skip
        actor, src = self.actor.to_ocsf()
        api: dict[str, Any] = {
            "operation": _text(self.operation, "operation", limit=128),
            "service": {"name": _text(self.service, "service", limit=128)},
        }
        if self.request_uid is not None:
            api["request"] = {"uid": _text(self.request_uid, "request_uid")}
        d.update(actor=actor, api=api, src_endpoint=src, **_status(self.ok, self.status_detail))
        if self.inference is not None:
            if self.policy is None:
                raise InputError("an inference event needs an input policy (raw, hash or mask)")
            d["ai"] = self.inference.to_dict(self.policy)
        return d


_AUTH_ACTIVITIES = {"logon": 1, "logoff": 2, "ticket": 3, "other": 99}


@dataclass(frozen=True)
class Authentication:
    """OCSF Authentication (3002): a token or session sign-in, accepted or refused."""

    actor: Actor
    activity: str = "logon"
    ok: bool = True
    status_detail: str | None = None
    auth_protocol: str = "bearer-token"
    is_mfa: bool = False
    severity: Severity = Severity.INFORMATIONAL
    time_ms: int | None = None
    message: str | None = None
    uid: str | None = None

    def to_ocsf(self) -> dict[str, Any]:
        if self.activity not in _AUTH_ACTIVITIES:
            raise InputError(f"activity: expected one of {', '.join(_AUTH_ACTIVITIES)}")
        d = _base(
            3002, 3, "Authentication", "Identity & Access Management",
            _AUTH_ACTIVITIES[self.activity], self.activity.title(), self.severity, self.time_ms,
            self.message, self.uid,
        )  # fmt: skip
        actor, src = self.actor.to_ocsf()
        d.update(
            user=actor["user"],
            src_endpoint=src,
            auth_protocol=_text(self.auth_protocol, "auth_protocol", limit=64),
            is_mfa=bool(self.is_mfa),
            **_status(self.ok, self.status_detail),
        )
        return d


_FINDING_ACTIVITIES = {"create": 1, "update": 2, "close": 3, "other": 99}


@dataclass(frozen=True)
class DetectionFinding:
    """OCSF Detection Finding (2004): a detection (probing, extraction, drift ...) with the
    MITRE ATLAS techniques it names (``attacks``; unknown IDs are refused)."""

    title: str
    finding_uid: str
    severity: Severity = Severity.MEDIUM
    techniques: tuple[str, ...] = ()
    analytic: str | None = None
    actor: Actor | None = None
    model: ModelRef | None = None
    activity: str = "create"
    evidence: Mapping[str, Any] = field(default_factory=dict)
    time_ms: int | None = None
    message: str | None = None
    uid: str | None = None

    def to_ocsf(self) -> dict[str, Any]:
        if self.activity not in _FINDING_ACTIVITIES:
            raise InputError(f"activity: expected one of {', '.join(_FINDING_ACTIVITIES)}")
        d = _base(
            2004, 2, "Detection Finding", "Findings", _FINDING_ACTIVITIES[self.activity],
            self.activity.title(), self.severity, self.time_ms, self.message, self.uid,
        )  # fmt: skip
        attacks = []
        for t in self.techniques:
            if t not in ATLAS_TECHNIQUES:
                raise InputError(f"technique {str(t)[:32]!r} is not a known MITRE ATLAS ID")
            attacks.append(
                {"technique": {"uid": t, "name": ATLAS_TECHNIQUES[t]}, "version": "ATLAS"}
            )
        info: dict[str, Any] = {
            "uid": _text(self.finding_uid, "finding_uid", limit=128),
            "title": _text(self.title, "title"),
        }
        if attacks:
            info["attacks"] = attacks
        if self.analytic is not None:
            info["analytic"] = {"name": _text(self.analytic, "analytic"), "type_id": 1}
        d["finding_info"] = info
        d["status_id"] = 1 if self.activity != "close" else 4
        if self.actor is not None:
            actor, src = self.actor.to_ocsf()
            d.update(actor=actor, src_endpoint=src)
        ai: dict[str, Any] = {}
        if self.model is not None:
            ai["model"] = self.model.to_dict()
        if self.evidence:
            ai["evidence"] = dict(self.evidence)
        if ai:
            d["ai"] = ai
        return d


OcsfEvent = ApiActivity | Authentication | DetectionFinding


@runtime_checkable
class Sink(Protocol):
    """Where events go. ``send`` delivers a batch of OCSF events (dicts) or raises
    :class:`SinkError`; nothing is half-accepted silently (a batch that fails is retried
    whole, so delivery is at least once). ``close`` releases connections and files."""

    name: str

    def send(self, events: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...
