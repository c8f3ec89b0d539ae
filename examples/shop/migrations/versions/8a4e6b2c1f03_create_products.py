"""create products, prices never negative

Revision ID: 8a4e6b2c1f03
Revises: 3f1c2a9b7d10
Create Date: 2024-03-04 14:30:02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a4e6b2c1f03"
down_revision: str | None = "3f1c2a9b7d10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )


def downgrade() -> None:
    op.drop_table("products")
