"""Formatters from an OCSF event (a dict) to ECS (Elastic Common Schema), ArcSight CEF and
RFC 5424 syslog. Every value from an event is escaped for the target format, so a field
holding ``|``, ``=``, ``]`` or a newline cannot forge another field or another record."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bastion.core.errors import InputError

__all__ = ["SD_ID", "to_cef", "to_ecs", "to_json", "to_syslog"]

ECS_VERSION = "8.11.0"
#: The RFC 5424 structured-data ID (``name@PEN``; 32473 is IANA's documentation number
#: until an operator sets their own enterprise number).
SD_ID = "ocsf@32473"

_CATEGORIES = {6003: ["web", "api"], 3002: ["authentication"], 2004: ["intrusion_detection"]}
_KINDS = {2004: "alert"}
# OCSF severity_id -> RFC 5424 severity (0 emergency .. 7 debug)
_SYSLOG_SEVERITY = {0: 6, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1}
# OCSF severity_id -> CEF 0..10
_CEF_SEVERITY = {0: 0, 1: 1, 2: 3, 3: 5, 4: 7, 5: 9, 6: 10}


def _require(event: Mapping[str, Any]) -> int:
    cls = event.get("class_uid")
    if not isinstance(cls, int) or isinstance(cls, bool):
        raise InputError("event: not an OCSF event (no integer class_uid)")
    if not isinstance(event.get("time"), int):
        raise InputError("event: not an OCSF event (no integer time)")
    return cls


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _get(event: Mapping[str, Any], *path: str) -> Any:
    cur: Any = event
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _user(event: Mapping[str, Any]) -> Any:
    return _get(event, "actor", "user", "name") or _get(event, "user", "name")


def to_json(event: Mapping[str, Any]) -> str:
    """One JSON line (OCSF as is)."""
    _require(event)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)


def to_ecs(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as an ECS 8 document; the OCSF original is kept under ``ocsf``."""
    cls = _require(event)
    status = event.get("status_id")
    doc: dict[str, Any] = {
        "@timestamp": _iso(event["time"]),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": _KINDS.get(cls, "event"),
            "category": _CATEGORIES.get(cls, ["host"]),
            "type": ["info"] if cls != 3002 else ["start"],
            "action": str(_get(event, "api", "operation") or event.get("activity_name") or ""),
            "code": str(event.get("type_uid", cls)),
            "severity": event.get("severity_id", 0),
            "dataset": "bastion.monitor",
            "module": "bastion",
            "id": _get(event, "metadata", "uid"),
        },
        "observer": {"product": "Bastion", "vendor": "Bastion", "type": "ai-gateway"},
        "ocsf": {"class_uid": cls, "type_uid": event.get("type_uid")},
    }
    if cls != 2004 and status in (1, 2):
        doc["event"]["outcome"] = "success" if status == 1 else "failure"
    if event.get("message"):
        doc["message"] = event["message"]
    user = _user(event)
    if user:
        doc["user"] = {"name": user}
        uid = _get(event, "actor", "user", "uid") or _get(event, "user", "uid")
        if uid:
            doc["user"]["id"] = uid
    ip = _get(event, "src_endpoint", "ip")
    if ip:
        doc["source"] = {"ip": ip}
    info = event.get("finding_info")
    if isinstance(info, Mapping):
        doc["rule"] = {"id": info.get("uid"), "name": info.get("title")}
        attacks = info.get("attacks") or []
        ids = [_get(a, "technique", "uid") for a in attacks]
        names = [_get(a, "technique", "name") for a in attacks]
        if ids:
            doc["threat"] = {
                "framework": "MITRE ATLAS",
                "technique": {"id": ids, "name": names},
            }
    if isinstance(event.get("ai"), Mapping):
        doc["bastion"] = {"ai": event["ai"]}
    return doc


def _cef_header(value: object) -> str:
    return re.sub(r"[\r\n]+", " ", str(value)).replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: object) -> str:
    s = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return s.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def to_cef(event: Mapping[str, Any]) -> str:
    """One ArcSight CEF:0 line (header fields escape ``\\`` and ``|``; extension values
    escape ``\\``, ``=`` and line breaks)."""
    cls = _require(event)
    sig = event.get("type_uid", cls)
    name = (
        _get(event, "finding_info", "title")
        or _get(event, "api", "operation")
        or event.get("class_name")
        or "event"
    )
    sev = _CEF_SEVERITY.get(int(event.get("severity_id") or 0), 0)
    ext: list[tuple[str, object]] = [("rt", event["time"])]
    uid = _get(event, "metadata", "uid")
    if uid:
        ext.append(("externalId", uid))
    user = _user(event)
    if user:
        ext.append(("suser", user))
    ip = _get(event, "src_endpoint", "ip")
    if ip:
        ext.append(("src", ip))
    if event.get("activity_name"):
        ext.append(("act", event["activity_name"]))
    status = event.get("status_id")
    if cls != 2004 and status in (1, 2):
        ext.append(("outcome", "success" if status == 1 else "failure"))
    model = _get(event, "ai", "model")
    if isinstance(model, Mapping):
        ext += [("cs1Label", "model"), ("cs1", model.get("name", ""))]
        if model.get("digest"):
            ext += [("cs2Label", "modelDigest"), ("cs2", model["digest"])]
        if model.get("version"):
            ext += [("cs3Label", "modelVersion"), ("cs3", model["version"])]
    conf = _get(event, "ai", "confidence")
    if conf is not None:
        ext += [("cfp1Label", "confidence"), ("cfp1", conf)]
    attacks = _get(event, "finding_info", "attacks") or []
    ids = [str(_get(a, "technique", "uid")) for a in attacks]
    if ids:
        ext += [("cs4Label", "atlasTechniques"), ("cs4", ",".join(ids))]
    if event.get("message"):
        ext.append(("msg", event["message"]))
    header = "|".join(
        _cef_header(v)
        for v in (
            "Bastion",
            "Bastion",
            _get(event, "metadata", "product", "version") or "0",
            sig,
            name,
            sev,
        )
    )
    return f"CEF:0|{header}|" + " ".join(f"{k}={_cef_value(v)}" for k, v in ext)


_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


def _header_field(value: str, limit: int) -> str:
    s = _PRINTUSASCII.sub("_", value)[:limit]
    return s or "-"


def _sd_value(value: object) -> str:
    s = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return s.replace("\n", " ").replace("\r", " ")


def to_syslog(
    event: Mapping[str, Any],
    *,
    facility: int = 13,
    hostname: str | None = None,
    app_name: str = "bastion",
    procid: str = "-",
) -> str:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [ocsf@32473 ...] MSG``
    with the OCSF JSON as MSG (UTF-8, after a BOM). Facility 13 is "log audit"."""
    cls = _require(event)
    if not 0 <= facility <= 23:
        raise InputError("syslog facility: must lie in 0-23")
    pri = facility * 8 + _SYSLOG_SEVERITY.get(int(event.get("severity_id") or 0), 6)
    host = _header_field(hostname or socket.gethostname(), 255)
    params = [
        ("class_uid", cls),
        ("type_uid", event.get("type_uid", cls)),
        ("severity_id", event.get("severity_id", 0)),
    ]
    uid = _get(event, "metadata", "uid")
    if uid:
        params.append(("uid", uid))
    user = _user(event)
    if user:
        params.append(("user", user))
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params) + "]"
    msgid = _header_field(f"OCSF{event.get('type_uid', cls)}", 32)
    return (
        f"<{pri}>1 {_iso(event['time'])} {host} {_header_field(app_name, 48)} "
        f"{_header_field(procid, 128)} {msgid} {sd} \ufeff{to_json(event)}"
    )
