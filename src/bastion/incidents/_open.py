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
    if detection.get("class_uid") == 2004:
        ev = (
            detection.get("ai", {}).get("evidence", {})
            if isinstance(detection.get("ai"), dict)
            else {}
        )
        kind = str(ev.get("kind") or "")
        title = str(detection.get("finding_info", {}).get("title") or kind)
        sev = _OCSF_SEVERITY.get(int(detection.get("severity_id") or 3), "medium")
        principal = (detection.get("actor") or {}).get("user", {}).get("name")
        client = (detection.get("src_endpoint") or {}).get("ip")
        model = ((detection.get("ai") or {}).get("model") or {}).get("name")
        events = list(ev.get("events") or [])
        uid = str(detection.get("finding_info", {}).get("uid") or "")
    else:
        kind = str(detection.get("kind") or "")
        title = str(detection.get("title") or kind)
        sev = str(detection.get("severity") or "medium")
        principal, client = detection.get("principal"), detection.get("client_ip")
        model = detection.get("model")
        events = list(detection.get("events") or [])
        uid = str(detection.get("finding_uid") or "")
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
