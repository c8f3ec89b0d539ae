"""accounts with a native enum

Revision ID: ee000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ee000001"
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
    op.execute("DROP TYPE account_status")
    op.drop_table("accounts")
