"""Ledger: stored perfect-subtree hashes, so inclusion and consistency proofs read O(log n)
rows instead of every leaf hash. Existing ledgers are indexed here, from their leaf hashes.

Revision ID: 0004_ledger_nodes
Revises: 0001_spine
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger_nodes"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

#: Heights that are stored: every multiple of this (a subtree of 256, 65,536, ... leaves).
STRIDE = 8


def upgrade() -> None:
    op.create_table(
        "ledger_nodes",
        sa.Column("height", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    nodes = sa.table(
        "ledger_nodes",
        sa.column("height", sa.Integer),
        sa.column("idx", sa.BigInteger),
        sa.column("hash", sa.LargeBinary),
    )
    # Index what is already there: a streaming frontier over the stored leaf hashes.
    conn = op.get_bind()
    total = conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar() or 0
    stack: list[bytes] = []
    pending: list[dict[str, object]] = []
    for count0, (lh,) in enumerate(_leaf_hashes(conn, total)):
        h = bytes(lh)
        count, height, size = count0, 0, count0 + 1
        while count & 1:
            h = hashlib.sha256(b"\x01" + stack.pop() + h).digest()
            count >>= 1
            height += 1
            if height % STRIDE == 0:
                pending.append({"height": height, "idx": (size >> height) - 1, "hash": h})
        stack.append(h)
        if len(pending) >= 5_000:
            op.bulk_insert(nodes, pending)
            pending = []
    if pending:
        op.bulk_insert(nodes, pending)


def _leaf_hashes(conn: sa.Connection, total: int, chunk: int = 50_000):  # type: ignore[no-untyped-def]
    """Leaf hashes in order, a chunk of positions at a time (no cursor held across inserts)."""
    q = sa.text("SELECT leaf_hash FROM ledger_entries WHERE seq >= :a AND seq < :b ORDER BY seq")
    for a in range(0, total, chunk):
        yield from conn.execute(q, {"a": a, "b": a + chunk}).all()


def downgrade() -> None:
    op.drop_table("ledger_nodes")
