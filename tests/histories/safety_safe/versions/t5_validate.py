"""VALIDATE both constraints (SHARE UPDATE EXCLUSIVE: reads and writes go on)

Revision ID: t1000005
Revises: t1000004
"""

from alembic import op

revision = "t1000005"
down_revision = "t1000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_customer")
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_nn")


def downgrade() -> None:
    pass  # a validated constraint cannot be made NOT VALID again; nothing to undo
