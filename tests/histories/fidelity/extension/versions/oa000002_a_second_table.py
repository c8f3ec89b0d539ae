"""a second table

Revision ID: oa000002
Revises: oa000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "oa000002"
down_revision = "oa000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("keys", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("keys")
