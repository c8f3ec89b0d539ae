"""products.barcode: integer -> varchar(32) (the downgrade casts back)

Revision ID: e1000002
Revises: e1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e1000002"
down_revision = "e1000001"
branch_labels = None
depends_on = None

# This history tests another check: its unsafe operation is allowed for safety.
# gauntlet: allow table-rewrite


def upgrade() -> None:
    op.alter_column(
        "products",
        "barcode",
        existing_type=sa.Integer(),
        type_=sa.String(length=32),
        existing_nullable=True,
    )


def downgrade() -> None:
    # Works on the rows this revision saw; fails once a later revision stored a
    # barcode that is not a number.
    op.alter_column(
        "products",
        "barcode",
        existing_type=sa.String(length=32),
        type_=sa.Integer(),
        existing_nullable=True,
        postgresql_using="barcode::integer",
    )
