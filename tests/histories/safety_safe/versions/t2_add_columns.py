"""orders.note (nullable) and orders.flag NOT NULL DEFAULT 0 (a constant: no rewrite)

Revision ID: t1000002
Revises: t1000001
"""

import sqlalchemy as sa
from alembic import op

revision = "t1000002"
down_revision = "t1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.Text, nullable=True))
    op.add_column("orders", sa.Column("flag", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("orders", "flag")
    op.drop_column("orders", "note")
