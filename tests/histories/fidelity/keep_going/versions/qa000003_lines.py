"""lines (broken: the downgrade drops the parent first)

Revision ID: qa000003
Revises: qa000002
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qa000003"
down_revision = "qa000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("products", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id")),
    )


def downgrade() -> None:
    op.drop_table("products")
    op.drop_table("lines")
