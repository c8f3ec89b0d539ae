"""a table and column with comments

Revision ID: hb000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "hb000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sku", sa.String(20), comment="stock keeping unit"),
        comment="things we sell",
    )


def downgrade() -> None:
    op.drop_table("products")
