"""Governance: proposals, the two-person rule for privileged changes (gate policy,
governance file): one privileged person proposes, a different one approves.

Revision ID: 0006_gov_proposals
Revises: 0003_registry
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_gov_proposals"
down_revision = "0003_registry"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gov_proposals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("lock_seq", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("gov_proposals")
