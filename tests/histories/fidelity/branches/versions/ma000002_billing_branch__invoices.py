"""billing branch: invoices

Revision ID: ma000002
Revises: ma000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ma000002"
down_revision = "ma000001"
branch_labels = ("billing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id")),
    )


def downgrade() -> None:
    op.drop_table("invoices")
