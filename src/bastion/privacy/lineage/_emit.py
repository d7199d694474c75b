"""Sending stored run events on: to a file (one JSON document per line, the form
OpenLineage's file transport writes) or to an OpenLineage endpoint (``POST
{url}/api/v1/lineage``, one event per request, as the HTTP transport does)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.lineage._events import list_events

__all__ = ["ExportResult", "export_events"]

LINEAGE_PATH = "/api/v1/lineage"


@dataclass(frozen=True)
class ExportResult:
    events: int
    last_seq: int
    target: str


def _endpoint(url: str) -> str:
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise InputError("lineage endpoint: expected an http(s) URL")
    if u.username or u.password:
        raise InputError("lineage endpoint: put credentials in the token variable, not the URL")
    path = u.path.rstrip("/")
    if not path.endswith(LINEAGE_PATH):
        path += LINEAGE_PATH
    return f"{u.scheme}://{u.netloc}{path}"


def export_events(
    ws: Workspace,
    *,
    out: Path | None = None,
    url: str | None = None,
    token: str | None = None,
    since: int = 0,
    timeout: float = 10.0,
) -> ExportResult:
    """Every stored event after ``since`` to ``out`` (written whole, atomically) or to
    ``url``. An endpoint that answers an error stops the export at that event
    (``InputError`` naming its status); the result says how far it got."""
    if (out is None) == (url is None):
        raise InputError("lineage export: give exactly one of a file or an endpoint URL")
    events = list_events(ws, since=since)
    if out is not None:
        target = out.resolve()
        if not target.parent.is_dir():
            raise InputError(f"{out}: its directory does not exist")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for e in events:
                    f.write(json.dumps(e.event, sort_keys=True, separators=(",", ":")) + "\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ExportResult(len(events), events[-1].seq if events else since, str(out))
    import httpx

    assert url is not None
    endpoint = _endpoint(url)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    sent, last = 0, since
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for e in events:
            try:
                r = client.post(endpoint, content=json.dumps(e.event), headers=headers)
            except httpx.HTTPError as exc:
                raise InputError(
                    f"lineage endpoint unreachable after {sent} event(s) ({type(exc).__name__})"
                ) from None
            if r.status_code >= 300:
                raise InputError(
                    f"lineage endpoint answered {r.status_code} at event {e.seq} "
                    f"({sent} sent; resume with --since {last})"
                )
            sent, last = sent + 1, e.seq
    return ExportResult(sent, last, endpoint)
