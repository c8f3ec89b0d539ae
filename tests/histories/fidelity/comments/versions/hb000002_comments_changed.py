"""comments changed

Revision ID: hb000002
Revises: hb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "hb000002"
down_revision = "hb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table_comment("products", "everything we sell", existing_comment="things we sell")
    op.alter_column(
        "products",
        "sku",
        comment="SKU",
        existing_comment="stock keeping unit",
        existing_type=sa.String(20),
    )


def downgrade() -> None:
    op.alter_column(
        "products",
        "sku",
        comment="stock keeping unit",
        existing_comment="SKU",
        existing_type=sa.String(20),
    )
    op.create_table_comment("products", "things we sell", existing_comment="everything we sell")
