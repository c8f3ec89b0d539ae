"""customers and orders: the tables the later revisions change

Revision ID: t1000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "t1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("customers", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, nullable=True),
        sa.Column("status", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("customers")
