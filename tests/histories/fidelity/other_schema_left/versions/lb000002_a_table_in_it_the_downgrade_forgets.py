"""a table in it the downgrade forgets

Revision ID: lb000002
Revises: lb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "lb000002"
down_revision = "lb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("trail", sa.Column("id", sa.Integer()), schema="audit", if_not_exists=True)


def downgrade() -> None:
    pass
