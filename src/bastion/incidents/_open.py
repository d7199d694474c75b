"""An incident from a detection: its kind, severity and who, and the events it rests on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.core.errors import InputError
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.incidents._playbooks import playbooks_for
from bastion.incidents._store import open_incident
from bastion.incidents.interface import Incident
from bastion.monitor.detections import field_value

__all__ = ["open_from_detection"]

_OCSF_SEVERITY = {1: "info", 2: "low", 3: "medium", 4: "high", 5: "critical", 6: "critical"}


def open_from_detection(
    ws: Workspace,
    detection: Mapping[str, Any],
    *,
    owner: str,
    actor: str,
    params: Mapping[str, Any] | None = None,
) -> Incident:
    """Open an incident from a detection: a ``Detection.to_dict()`` (what ``bastion
    monitor detect --format json`` prints) or an OCSF Detection Finding from Bastion's
    rules. The severity is the higher of the detection's and its playbook's; the events it
    rests on are linked; principal, client and model become parameters."""

    def text(path: str) -> str | None:
        v = field_value(detection, path)
        return v if isinstance(v, str) and v else None

    if detection.get("class_uid") == 2004:
        kind = text("ai.evidence.kind") or ""
        title = text("finding_info.title") or kind
        sid = detection.get("severity_id")
        sev = _OCSF_SEVERITY.get(sid if isinstance(sid, int) else 3, "medium")
        principal, client = text("actor.user.name"), text("src_endpoint.ip")
        model = text("ai.model.name")
        raw_events = field_value(detection, "ai.evidence.events")
        uid = text("finding_info.uid") or ""
    else:
        kind = text("kind") or ""
        title = text("title") or kind
        sev = text("severity") or "medium"
        principal, client, model = text("principal"), text("client_ip"), text("model")
        raw_events = detection.get("events")
        uid = text("finding_uid") or ""
    events = list(raw_events) if isinstance(raw_events, list) else []
    if not kind:
        raise InputError("the detection names no kind (expected a Bastion detection)")
    try:
        severity = Severity(sev)
    except ValueError:
        severity = Severity.MEDIUM
    books = playbooks_for(kind)
    for b in books:
        if b.severity.rank > severity.rank:
            severity = b.severity
    p: dict[str, Any] = {
        k: v
        for k, v in (("principal", principal), ("client_ip", client), ("model", model))
        if isinstance(v, str) and v
    }
    p.update(params or {})
    links = [("event", str(e)[:200]) for e in events[:100] if isinstance(e, str)]
    if uid:
        links.append(("detection", uid[:200]))
    return open_incident(
        ws, title[:300], kind=kind, severity=severity, owner=owner, actor=actor, params=p,
        links=links,
    )  # fmt: skip
