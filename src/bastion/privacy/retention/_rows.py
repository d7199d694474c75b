"""Retention tables: the items under retention (datasets, model artifacts, inference logs,
evidence exports) with their legal holds and disposal proofs, and erasure requests (the
subject is stored as a keyed hash, never as the identifier)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

__all__ = ["ErasureRequestRow", "RetentionItemRow"]


class RetentionItemRow(Base):
    __tablename__ = "privacy_retention_items"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_retention_kind_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(100))
    ref: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    jurisdiction: Mapped[str | None] = mapped_column(String(20), nullable=True)
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(200))
    hold_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    held_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    disposed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disposal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ErasureRequestRow(Base):
    __tablename__ = "privacy_erasure_requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(80), index=True)
    jurisdiction: Mapped[str | None] = mapped_column(String(20), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
