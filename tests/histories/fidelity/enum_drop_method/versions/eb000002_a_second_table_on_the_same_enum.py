"""a second table on the same enum

Revision ID: eb000002
Revises: eb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "eb000002"
down_revision = "eb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "status",
            postgresql.ENUM("active", "suspended", name="account_status", create_type=False),
        ),
    )


def downgrade() -> None:
    op.drop_table("account_log")
