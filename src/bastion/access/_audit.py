"""Audit of artifact access (issue 11, section 4): every read of model weights, configuration
or inference logs through Bastion, and every export, goes through :func:`audit_artifact_read`.

One function decides with the policy engine (``download-weights``, ``read-config``,
``read-logs``, ``export``; the purpose is the Cedar context's ``purpose``), records the read
as an ``access.artifact_read`` ledger event with the principal, the purpose and the
artifact's digest, and refuses what the policies do not allow: an ``access.artifact_denied``
event, and, for a download of weights or an export, at once a ``monitor.detection`` (an OCSF
Detection Finding built with the monitor room's :class:`~bastion.monitor.detections.Detection`
and recorded by its :func:`~bastion.monitor.detections.ledger_recorder`), then
:class:`~bastion.core.errors.PermissionDeniedError`. Deny by default: a missing purpose, a
malformed digest, or an engine error is a refusal, never a silent read.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.access._tokens import Principal
from bastion.access.interface import (
    Action,
    AuthMethod,
    Decision,
    Identity,
    IdentityKind,
    ResourceKind,
    ResourceRef,
)
from bastion.core.errors import InputError, PermissionDeniedError
from bastion.core.ledger import Event

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace
    from bastion.monitor.interface import Sink

__all__ = [
    "PURPOSE_HEADER",
    "Artifact",
    "ArtifactKind",
    "audit_artifact_read",
    "identity_for_principal",
    "validate_purpose",
]

_log = logging.getLogger(__name__)

#: The API header that carries the purpose of a read (``--purpose`` on the CLI).
PURPOSE_HEADER = "X-Bastion-Purpose"
MAX_PURPOSE = 200
_PURPOSE = re.compile(r"^[^\x00-\x1f\x7f]{3,200}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: ATLAS: ML model access / exfiltration via ML inference API, as the monitor's export rule
_TECHNIQUES = ("AML.T0025", "AML.T0024.002")


class ArtifactKind(enum.StrEnum):
    WEIGHTS = "weights"  # a model version's files
    CONFIG = "config"  # configuration: guard, policies, gate policy
    LOGS = "logs"  # inference logs
    EXPORT = "export"  # a bulk export of data or evidence

    @property
    def action(self) -> Action:
        return _ACTIONS[self]


_ACTIONS = {
    ArtifactKind.WEIGHTS: Action.DOWNLOAD_WEIGHTS,
    ArtifactKind.CONFIG: Action.READ_CONFIG,
    ArtifactKind.LOGS: Action.READ_LOGS,
    ArtifactKind.EXPORT: Action.EXPORT,
}
#: refusals of these raise a detection at once (the issue: "download or export attempt")
_DETECTED = frozenset({Action.DOWNLOAD_WEIGHTS, Action.EXPORT})


@dataclass(frozen=True)
class Artifact:
    """What is read: its kind, the resource the policies decide on (an inventoried model,
    endpoint or dataset, or an unknown one, which ranks as restricted), and a name for the
    audit (``credit-scorer@3/model.safetensors``)."""

    kind: ArtifactKind
    resource: ResourceRef
    name: str

    @classmethod
    def model_file(cls, resource_id: str, name: str) -> Artifact:
        return cls(ArtifactKind.WEIGHTS, ResourceRef(ResourceKind.MODEL_VERSION, resource_id), name)


def validate_purpose(purpose: str | None) -> str:
    """The stated purpose, stripped: required, 3-200 printable characters."""
    p = (purpose or "").strip()
    if not p:
        raise InputError(
            f"a purpose is required to read an artifact ({PURPOSE_HEADER} header, --purpose)"
        )
    if not _PURPOSE.match(p):
        raise InputError(f"purpose must be 3-{MAX_PURPOSE} printable characters")
    return p


def identity_for_principal(p: Principal) -> Identity:
    """A Bastion API token's caller as the policies see it: ``user:NAME`` with the token's
    role as its one role, MFA when the request carried a verified TOTP code."""
    name = p.name if p.name.startswith("user:") else f"user:{p.name}"
    return Identity(
        id=name[:200],
        kind=IdentityKind.USER,
        method=AuthMethod.API_TOKEN,
        roles=frozenset({p.role.value}),
        mfa=p.mfa_verified,
        token_id=p.token_id,
    )


def audit_artifact_read(
    ws: Workspace,
    principal: Principal | Identity,
    artifact: Artifact,
    purpose: str | None,
    digest: str,
    *,
    size: int | None = None,
    directory: Path | str | None = None,
    sink: Sink | None = None,
) -> Decision:
    """Decide, record and return the decision for one read; raise when it is refused.

    Call it before the bytes leave: a denial reads nothing. ``digest`` is the artifact's
    ``sha256:<hex>`` as Bastion knows it (the registry's manifest, a blob's address). With
    a monitor ``sink`` (the guard's), a detection's OCSF Detection Finding is also sent
    there; the ledger event is written first, so a sink that is down loses nothing."""
    from bastion.access.policy import decide, decision_dict

    why = validate_purpose(purpose)
    if not _DIGEST.match(digest):
        raise InputError("artifact digest must be sha256:<64 lowercase hex>")
    ident = principal if isinstance(principal, Identity) else identity_for_principal(principal)
    action = artifact.kind.action
    res = artifact.resource
    decision = decide(ws, ident, action, res, {"purpose": why}, directory=directory)
    data: dict[str, Any] = {
        "principal": ident.id,
        "action": action.value,
        "artifact": artifact.name[:300],
        "artifact_kind": artifact.kind.value,
        "resource": f"{res.kind.value}:{res.id}"[:240],
        "purpose": why,
        "digest": digest,
        "allowed": decision.allowed,
        "policies": list(decision.policies),
    }
    if size is not None:
        data["bytes"] = int(size)
    if decision.grant_id:
        data["grant_id"] = decision.grant_id
    if ident.token_id:
        data["token_id"] = ident.token_id
    actor = ident.id[:200]
    if decision.allowed:
        data["obligations"] = decision_dict(decision)["obligations"]
        ws.ledger.append([Event("access.artifact_read", data, actor)])
        return decision
    data["reasons"] = [r[:200] for r in decision.reasons[:5]]
    ws.ledger.append([Event("access.artifact_denied", data, actor)])
    if action in _DETECTED:
        _detect(ws, ident, artifact, action, why, digest, decision, sink)
    reason = decision.reasons[0] if decision.reasons else "denied by default"
    raise PermissionDeniedError(f"{action.value} of {artifact.name[:120]} refused: {reason[:200]}")


def _detect(
    ws: Workspace,
    ident: Identity,
    artifact: Artifact,
    action: Action,
    purpose: str,
    digest: str,
    decision: Decision,
    sink: Sink | None,
) -> None:
    """The monitor room's Detection for a refused download or export, recorded at once."""
    from bastion.monitor.detections import Detection, DetectionKind, ledger_recorder
    from bastion.monitor.interface import Severity

    model = artifact.resource.id if artifact.resource.kind is ResourceKind.MODEL_VERSION else None
    found = Detection(
        kind=DetectionKind.WEIGHT_EXPORT,
        rule="access-artifact-denied",
        title=f"unauthorized {action.value} of {artifact.name[:200]} by {ident.id[:200]}",
        severity=Severity.HIGH,
        time_ms=int(time.time() * 1000),
        principal=ident.id[:200],
        model=model,
        techniques=_TECHNIQUES,
        details={
            "reason": "denied",
            "action": action.value,
            "artifact": artifact.name[:300],
            "purpose": purpose,
            "digest": digest,
            "reasons": [r[:200] for r in decision.reasons[:5]],
        },
    )
    ledger_recorder(ws, actor="access")([found])
    if sink is not None:
        from bastion.monitor.interface import SinkError

        try:
            sink.send([found.to_ocsf()])
        except SinkError as exc:  # in the ledger already; the refusal stands either way
            _log.warning("detection not delivered to sink %s: %s", sink.name, exc.message)
