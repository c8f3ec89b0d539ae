"""search branch: an index that needs billing

Revision ID: ma000003
Revises: ma000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ma000003"
down_revision = "ma000001"
branch_labels = ("search",)
depends_on = ("ma000002",)


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id")),
    )


def downgrade() -> None:
    op.drop_table("search_terms")
