"""Tables of the governance room (migration 0003_registry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

TS = DateTime(timezone=True)


class PersonRow(Base):
    __tablename__ = "gov_people"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(TS)


class RoleRow(Base):
    __tablename__ = "gov_roles"
    role: Mapped[str] = mapped_column(String(60), primary_key=True)
    description: Mapped[str] = mapped_column(String(500))
    grants: Mapped[list[str]] = mapped_column(JSON)


class GrantRow(Base):
    __tablename__ = "gov_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("gov_people.id"))
    grant: Mapped[str] = mapped_column(String(200))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class ReviewRow(Base):
    __tablename__ = "gov_access_reviews"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    attested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class RaciRow(Base):
    __tablename__ = "gov_raci"
    __table_args__ = (UniqueConstraint("scope", "ref", "duty"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(10))
    ref: Mapped[str] = mapped_column(String(200))
    duty: Mapped[str] = mapped_column(String(40))
    letter: Mapped[str] = mapped_column(String(1))
    person_id: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(TS)


class BoardRow(Base):
    __tablename__ = "gov_boards"
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    quorum: Mapped[int] = mapped_column(Integer)
    required_roles: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(TS)


class ChangeRequestRow(Base):
    __tablename__ = "gov_change_requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(300), index=True)
    target_digest: Mapped[str | None] = mapped_column(String(100), nullable=True)
    board_id: Mapped[str] = mapped_column(String(60))
    requested_by: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    conditions: Mapped[list[str]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    lock_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS)
    decided_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class VoteRow(Base):
    __tablename__ = "gov_votes"
    __table_args__ = (UniqueConstraint("cr_id", "voter"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cr_id: Mapped[str] = mapped_column(ForeignKey("gov_change_requests.id"))
    voter: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(60))
    vote: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)


class EscalationRow(Base):
    __tablename__ = "gov_escalation"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS)


class ProposalRow(Base):
    """A privileged change awaiting a second person (migration 0006_gov_proposals)."""

    __tablename__ = "gov_proposals"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    digest: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String(300))
    proposed_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    lock_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS)
    decided_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
