"""Lineage tables: every OpenLineage run event as emitted, and its input -> output edges
(the graph the upstream / downstream queries walk)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

__all__ = ["LineageEdgeRow", "LineageEventRow"]


class LineageEventRow(Base):
    __tablename__ = "privacy_lineage_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    job_namespace: Mapped[str] = mapped_column(String(200))
    job_name: Mapped[str] = mapped_column(String(200), index=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(80))
    evidence_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))


class LineageEdgeRow(Base):
    __tablename__ = "privacy_lineage_edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    job_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(1100), index=True)  # "namespace:name"
    target: Mapped[str] = mapped_column(String(1100), index=True)
    source_digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    target_digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
