"""data migration: order statuses become upper-case

Revision ID: t1000002
Revises: t1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "t1000002"
down_revision = "t1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE orders SET status = upper(status)")


def downgrade() -> None:
    op.execute("UPDATE orders SET status = lower(status)")
