"""Access: TOTP replay and lockout state on api_tokens, and revocable console sessions.

Revision ID: 0005_access_hardening
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_access_hardening"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("totp_failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("totp_locked_until", TS, nullable=True))
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(24), nullable=False, index=True),
        sa.Column("mfa", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("totp_locked_until")
        batch.drop_column("totp_failures")
        batch.drop_column("totp_last_step")
