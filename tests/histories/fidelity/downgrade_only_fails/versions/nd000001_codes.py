"""codes

Revision ID: nd000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "nd000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "codes", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("code", sa.String(10))
    )


def downgrade() -> None:
    op.drop_table("codes")
