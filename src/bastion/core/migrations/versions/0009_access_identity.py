"""Access, identity side: revoked token ids, mTLS certificates issued, certificate revocations.

Revision ID: 0009_access_identity
Revises: 0001_spine
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_access_identity"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_revoked_jtis",
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_access_revoked_jtis_expires_at", "access_revoked_jtis", ["expires_at"])
    op.create_table(
        "access_mtls_certs",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("spiffe_id", sa.String(2048), nullable=False),
        sa.Column("dns_names", sa.Text, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("out_dir", sa.String(1000), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("replaced_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_access_mtls_certs_service", "access_mtls_certs", ["service"])
    op.create_table(
        "access_cert_revocations",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("access_cert_revocations")
    op.drop_index("ix_access_mtls_certs_service", "access_mtls_certs")
    op.drop_table("access_mtls_certs")
    op.drop_index("ix_access_revoked_jtis_expires_at", "access_revoked_jtis")
    op.drop_table("access_revoked_jtis")
