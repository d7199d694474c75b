"""Helpers shared by the governance modules: time, digests and the ledger."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bastion.core.ledger import Event
from bastion.core.workspace import Workspace


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _iso(ts: datetime | None) -> str | None:
    t = _utc(ts)
    return t.isoformat() if t else None


def _digest(obj: Any) -> str:
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _ledger(ws: Workspace, s: Session, kind: str, data: dict[str, Any], actor: str) -> int:
    (entry,) = ws.ledger.append([Event(kind, data, actor)], session=s)
    return entry.seq
