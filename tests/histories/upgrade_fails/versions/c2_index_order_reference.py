"""index orders.reference (BROKEN: the column was never added)

Revision ID: c1000002
Revises: c1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "c1000002"
down_revision = "c1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The add_column for "reference" was forgotten: PostgreSQL answers
    # 'column "reference" does not exist'.
    op.create_index(op.f("ix_orders_reference"), "orders", ["reference"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_reference"), table_name="orders")
