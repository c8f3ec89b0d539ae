"""index orders.status

Revision ID: h1000002
Revises: h1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "h1000002"
down_revision = "h1000001"
branch_labels = None
depends_on = None

# This history tests another check: its unsafe operation is allowed for safety.
# gauntlet: allow index-without-concurrently


def upgrade() -> None:
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
