"""orders (broken: the downgrade does nothing)

Revision ID: qa000002
Revises: qa000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qa000002"
down_revision = "qa000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    pass
