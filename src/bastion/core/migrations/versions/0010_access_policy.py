"""Access: just-in-time grants (the authorization side, issue 11 section 2).

Revision ID: 0010_access_policy
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_access_policy"
down_revision = "0001_spine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("principal_roles", sa.Text, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resource_kind", sa.String(20), nullable=False),
        sa.Column("resource_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("use_count", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_access_grants_scope",
        "access_grants",
        ["principal", "action", "resource_kind", "resource_id"],
    )
    op.create_index("ix_access_grants_status", "access_grants", ["status"])


def downgrade() -> None:
    op.drop_index("ix_access_grants_status", "access_grants")
    op.drop_index("ix_access_grants_scope", "access_grants")
    op.drop_table("access_grants")
