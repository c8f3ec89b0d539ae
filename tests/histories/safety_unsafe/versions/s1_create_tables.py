"""customers, orders and the mood enum: the tables the later revisions change

Revision ID: s1000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "s1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("customers", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("qty", sa.Integer, nullable=True),
        sa.Column("customer_id", sa.Integer, nullable=True),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("code", sa.String(10), nullable=True),
    )
    op.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")


def downgrade() -> None:
    op.execute("DROP TYPE mood")
    op.drop_table("orders")
    op.drop_table("customers")
