"""Tables of the authorization side (migration 0010_access_policy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

__all__ = ["GrantRow"]


class GrantRow(Base):
    """A just-in-time grant: one principal, one action, one resource, for a while."""

    __tablename__ = "access_grants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal: Mapped[str] = mapped_column(String(200))
    principal_roles: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, at request
    action: Mapped[str] = mapped_column(String(40))
    resource_kind: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    duration_s: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # pending|approved|denied|revoked
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    use_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_access_grants_scope", "principal", "action", "resource_kind", "resource_id"),
        Index("ix_access_grants_status", "status"),
    )
