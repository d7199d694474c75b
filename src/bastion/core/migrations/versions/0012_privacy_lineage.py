"""Privacy: lineage (OpenLineage run events and their edges) and retention (items under
retention with holds and disposal proofs, erasure requests).

Revision ID: 0012_privacy_lineage
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_privacy_lineage"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "privacy_lineage_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False, index=True),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("event_time", TS, nullable=False),
        sa.Column("job_namespace", sa.String(200), nullable=False),
        sa.Column("job_name", sa.String(200), nullable=False, index=True),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("evidence_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_table(
        "privacy_lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False, index=True),
        sa.Column("job_name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(1100), nullable=False, index=True),
        sa.Column("target", sa.String(1100), nullable=False, index=True),
        sa.Column("source_digest", sa.String(80), nullable=True),
        sa.Column("target_digest", sa.String(80), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "privacy_retention_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("path", sa.String(1000), nullable=True),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("jurisdiction", sa.String(20), nullable=True),
        sa.Column("collected_at", TS, nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("hold_reason", sa.String(500), nullable=True),
        sa.Column("held_by", sa.String(200), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("disposed_at", TS, nullable=True),
        sa.Column("disposal", sa.JSON, nullable=True),
        sa.UniqueConstraint("kind", "ref", name="uq_retention_kind_ref"),
    )
    op.create_table(
        "privacy_erasure_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject_hash", sa.String(80), nullable=False, index=True),
        sa.Column("jurisdiction", sa.String(20), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("privacy_erasure_requests")
    op.drop_table("privacy_retention_items")
    op.drop_table("privacy_lineage_edges")
    op.drop_table("privacy_lineage_events")
