"""The ledger's tables (created by migrations 0001 and 0004, never by ``create_all``).

``ledger_entries`` holds the events, ``ledger_head`` the single tree head (size, root and
frontier) every append locks first, ``ledger_nodes`` an index of perfect-subtree roots
for O(log n) proofs and ``ledger_checkpoints`` the signed tree heads.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.storage import Base

__all__ = [
    "ENTRIES",
    "NODES",
    "NODE_STRIDE",
    "LedgerCheckpointRow",
    "LedgerEntryRow",
    "LedgerHeadRow",
    "LedgerNodeRow",
]


class LedgerEntryRow(Base):
    __tablename__ = "ledger_entries"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


ENTRIES = cast(Table, LedgerEntryRow.__table__)


class LedgerHeadRow(Base):
    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNodeRow(Base):
    """The root of the perfect subtree ``idx`` of height ``height`` (a multiple of
    ``NODE_STRIDE``): an index that lets a proof read O(log n) rows. Never trusted on its
    own: every proof is checked against a signed checkpoint before it is handed out."""

    __tablename__ = "ledger_nodes"
    height: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


NODES = cast(Table, LedgerNodeRow.__table__)
#: Stored subtree heights are the multiples of this: subtrees of 256, 65,536, ... leaves.
NODE_STRIDE = 8


class LedgerCheckpointRow(Base):
    __tablename__ = "ledger_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
