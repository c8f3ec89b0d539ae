"""orders.qty integer -> bigint: ALTER COLUMN TYPE rewrites the table

Revision ID: s1000003
Revises: s1000002
"""

import sqlalchemy as sa
from alembic import op

revision = "s1000003"
down_revision = "s1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "qty", type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade() -> None:
    op.alter_column("orders", "qty", type_=sa.Integer, existing_type=sa.BigInteger)
