"""Privacy: the token vault (deterministic tokens, encrypted values, key versions).

Revision ID: 0008_privacy_vault
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_privacy_vault"
down_revision = "0001_spine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_token_vault",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("token", sa.String(80), nullable=False),
        sa.Column("previous_token", sa.String(80), nullable=True),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("namespace", "token", name="uq_privacy_vault_token"),
    )
    op.create_index(
        "ix_privacy_vault_previous", "privacy_token_vault", ["namespace", "previous_token"]
    )


def downgrade() -> None:
    op.drop_index("ix_privacy_vault_previous", "privacy_token_vault")
    op.drop_table("privacy_token_vault")
