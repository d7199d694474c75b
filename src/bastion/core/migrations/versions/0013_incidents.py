"""Incidents: incidents, their timeline, links and playbook steps; quarantined model
versions; chain of custody (artifacts and their signed custody events).

Revision ID: 0013_incidents
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_incidents"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
    )
    op.create_index("ix_incidents_kind", "incidents", ["kind"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_incident_timeline_incident_id", "incident_timeline", ["incident_id"])
    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("link_kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.UniqueConstraint("incident_id", "link_kind", "ref"),
    )
    op.create_index("ix_incident_links_incident_id", "incident_links", ["incident_id"])
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("playbook", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owners", sa.JSON, nullable=False),
        sa.Column("deadline", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.UniqueConstraint("run_id", "step"),
    )
    op.create_index("ix_incident_steps_incident_id", "incident_steps", ["incident_id"])
    op.create_table(
        "incident_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("released_at", TS, nullable=True),
    )
    op.create_index("ix_incident_quarantine_model", "incident_quarantine", ["model"])
    op.create_table(
        "custody_artifacts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("collected_by", sa.String(200), nullable=False),
        sa.Column("collected_at", TS, nullable=False),
    )
    op.create_index("ix_custody_artifacts_incident_id", "custody_artifacts", ["incident_id"])
    op.create_table(
        "custody_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "artifact_id", sa.String(36), sa.ForeignKey("custody_artifacts.id"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("statement", sa.JSON, nullable=False),
        sa.Column("statement_digest", sa.String(100), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("artifact_id", "seq"),
    )
    op.create_index("ix_custody_events_artifact_id", "custody_events", ["artifact_id"])


def downgrade() -> None:
    for t in (
        "custody_events",
        "custody_artifacts",
        "incident_quarantine",
        "incident_steps",
        "incident_links",
        "incident_timeline",
        "incidents",
    ):
        op.drop_table(t)
