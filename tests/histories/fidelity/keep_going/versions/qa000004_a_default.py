"""a default (broken: the downgrade keeps it)

Revision ID: qa000004
Revises: qa000003
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qa000004"
down_revision = "qa000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("customers", "country", server_default="NL", existing_type=sa.String(2))


def downgrade() -> None:
    pass
