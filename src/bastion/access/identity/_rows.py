"""The identity side's tables (migration ``0009_access_identity``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

__all__ = ["CertRevocationRow", "MtlsCertRow", "RevokedJtiRow"]


class RevokedJtiRow(Base):
    """A revoked token id; kept until the token would have expired anyway."""

    __tablename__ = "access_revoked_jtis"
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))


class MtlsCertRow(Base):
    """An mTLS certificate the workspace CA issued to a service."""

    __tablename__ = "access_mtls_certs"
    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(100), index=True)
    spiffe_id: Mapped[str] = mapped_column(String(2048))
    dns_names: Mapped[str] = mapped_column(Text)  # JSON list
    hours: Mapped[float] = mapped_column(Float)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    out_dir: Mapped[str] = mapped_column(String(1000))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CertRevocationRow(Base):
    """A revoked certificate serial (any certificate the workspace CA issued); the CRL is
    built from these rows."""

    __tablename__ = "access_cert_revocations"
    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
