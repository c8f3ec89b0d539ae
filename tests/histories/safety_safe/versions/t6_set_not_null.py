"""orders.status SET NOT NULL, proven by the validated CHECK (no scan), which goes

Revision ID: t1000006
Revises: t1000005
"""

import sqlalchemy as sa
from alembic import op

revision = "t1000006"
down_revision = "t1000005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "status", nullable=False, existing_type=sa.Text)
    op.drop_constraint("ck_orders_status_nn", "orders", type_="check")


def downgrade() -> None:
    op.execute("ALTER TABLE orders ADD CONSTRAINT ck_orders_status_nn CHECK (status IS NOT NULL)")
    op.alter_column("orders", "status", nullable=True, existing_type=sa.Text)
