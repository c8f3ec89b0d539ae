"""accounts with a native enum, dropped by Enum.drop

Revision ID: eb000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "eb000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.Enum("active", "suspended", name="account_status"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts")
    sa.Enum(name="account_status").drop(op.get_bind())
