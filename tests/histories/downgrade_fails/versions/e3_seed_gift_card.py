"""data migration: the gift card product (kept on downgrade)

Revision ID: e1000003
Revises: e1000002
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "e1000003"
down_revision = "e1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO products (id, name, barcode) "
        "VALUES (1000, 'Gift card', 'GIFT-CARD') ON CONFLICT (id) DO NOTHING"
    )


def downgrade() -> None:
    # The product stays (orders may point at it).
    pass
