"""The spine: ledger, evidence, inventory, API tokens.

Revision ID: 0001_spine
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_spine"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("kind", sa.String(100), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
    )
    head = sa.table(
        "ledger_head",
        sa.column("id", sa.Integer),
        sa.column("size", sa.BigInteger),
        sa.column("root_hash", sa.LargeBinary),
        sa.column("frontier", sa.LargeBinary),
    )
    # The empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1).
    op.bulk_insert(
        head,
        [{"id": 1, "size": 0, "root_hash": bytes.fromhex(EMPTY_ROOT_HEX), "frontier": b""}],
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger, nullable=False, unique=True),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("check_id", sa.String(200), nullable=False, index=True),
        sa.Column("subject_kind", sa.String(64), nullable=False),
        sa.Column("subject_ref", sa.String(500), nullable=False, index=True),
        sa.Column("subject_digest", sa.String(100), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("max_severity", sa.String(16), nullable=True),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("blobs", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "systems",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "system_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(64), sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("system_id", "version"),
    )
    op.create_table(
        "assets",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(64), sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("classification", sa.String(40), nullable=False, index=True),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, default=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("system_id", "asset_id"),
    )
    op.create_table(
        "asset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_pk", sa.Integer, sa.ForeignKey("assets.pk"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("system_version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("asset_pk", "version"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
    )


def downgrade() -> None:
    for t in (
        "api_tokens",
        "asset_versions",
        "assets",
        "system_versions",
        "systems",
        "evidence",
        "ledger_checkpoints",
        "ledger_head",
        "ledger_entries",
    ):
        op.drop_table(t)
