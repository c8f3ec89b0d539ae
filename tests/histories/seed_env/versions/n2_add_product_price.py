"""add products.price with a CHECK

Revision ID: n1000002
Revises: n1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "n1000002"
down_revision = "n1000001"
branch_labels = None
depends_on = None

# This history tests another check: its unsafe operation is allowed for safety.
# gauntlet: allow constraint-validation


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("price", sa.Numeric(precision=10, scale=2), server_default="0", nullable=False),
    )
    op.create_check_constraint(op.f("ck_products_price_nonnegative"), "products", "price >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_products_price_nonnegative"), "products", type_="check")
    op.drop_column("products", "price")
