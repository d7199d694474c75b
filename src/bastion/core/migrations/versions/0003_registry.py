"""Registry and governance: models, versions, approvals, transitions, gate policies; people,
roles, grants, access reviews, RACI, boards, change requests, votes, escalation matrices.

Revision ID: 0003_registry
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_registry"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("system_id", sa.String(64), nullable=True),
        sa.Column("asset_id", sa.String(64), nullable=True),
        sa.Column("tier", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "model_name", sa.String(100), sa.ForeignKey("registry_models.name"), nullable=False
        ),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False, index=True),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("datasets", sa.JSON, nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("gate_passed", sa.JSON, nullable=False),
        sa.Column("lock_seq", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("model_name", "version"),
    )
    op.create_table(
        "registry_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "version_id", sa.String(36), sa.ForeignKey("registry_versions.id"), nullable=False
        ),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("version_id", "stage"),
    )
    op.create_table(
        "registry_approvals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "version_id", sa.String(36), sa.ForeignKey("registry_versions.id"), nullable=False
        ),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("approver_roles", sa.JSON, nullable=False),
        sa.Column("comment", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("version_id", "stage", "kind", "approver"),
    )
    op.create_table(
        "registry_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False, index=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("evidence_ids", sa.JSON, nullable=False),
        sa.Column("approval_ids", sa.JSON, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "gate_policies",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "gov_people",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "gov_roles",
        sa.Column("role", sa.String(60), primary_key=True),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("grants", sa.JSON, nullable=False),
    )
    op.create_table(
        "gov_grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(100), sa.ForeignKey("gov_people.id"), nullable=False),
        sa.Column("grant", sa.String(200), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "gov_access_reviews",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attested_by", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
    )
    op.create_table(
        "gov_raci",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("duty", sa.String(40), nullable=False),
        sa.Column("letter", sa.String(1), nullable=False),
        sa.Column("person_id", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("scope", "ref", "duty"),
    )
    op.create_table(
        "gov_boards",
        sa.Column("id", sa.String(60), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("members", sa.JSON, nullable=False),
        sa.Column("quorum", sa.Integer, nullable=False),
        sa.Column("required_roles", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "gov_change_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("target", sa.String(300), nullable=False, index=True),
        sa.Column("target_digest", sa.String(100), nullable=True),
        sa.Column("board_id", sa.String(60), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("lock_seq", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
    )
    op.create_table(
        "gov_votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cr_id", sa.String(36), sa.ForeignKey("gov_change_requests.id"), nullable=False),
        sa.Column("voter", sa.String(100), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("vote", sa.String(10), nullable=False),
        sa.Column("comment", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("cr_id", "voter"),
    )
    op.create_table(
        "gov_escalation",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for t in (
        "gov_escalation",
        "gov_votes",
        "gov_change_requests",
        "gov_boards",
        "gov_raci",
        "gov_access_reviews",
        "gov_grants",
        "gov_roles",
        "gov_people",
        "gate_policies",
        "registry_transitions",
        "registry_approvals",
        "registry_requests",
        "registry_versions",
        "registry_models",
    ):
        op.drop_table(t)
