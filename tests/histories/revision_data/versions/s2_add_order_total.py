"""add orders.total NOT NULL (no server default: fails if orders has rows)

Revision ID: s1000002
Revises: s1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "s1000002"
down_revision = "s1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("total", sa.Integer(), nullable=False))


def downgrade() -> None:
    op.drop_column("orders", "total")
