"""The risk room: risk register, its history, tier assignments.

Revision ID: 0002_risk
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_risk"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "risk_register",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("system_id", sa.String(64), nullable=False, index=True),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("treatment", sa.Text, nullable=True),
        sa.Column("threats", sa.JSON, nullable=False),
        sa.Column("scenarios", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=True),
        sa.Column("accepted_by", sa.String(200), nullable=True),
        sa.Column("accepted_until", TS, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "risk_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "risk_id", sa.String(40), sa.ForeignKey("risk_register.id"), nullable=False, index=True
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("risk_id", "version"),
    )
    op.create_table(
        "risk_tier_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(64), nullable=False, index=True),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("appetite_p90", sa.Float, nullable=False),
        sa.Column("evidence_id", sa.String(36), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for t in ("risk_tier_assignments", "risk_history", "risk_register"):
        op.drop_table(t)
