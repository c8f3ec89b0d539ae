"""create legacy_audit (written by the old reporting job; not mapped)

Revision ID: p1000002
Revises: p1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "p1000002"
down_revision = "p1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legacy_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_audit")),
    )


def downgrade() -> None:
    op.drop_table("legacy_audit")
