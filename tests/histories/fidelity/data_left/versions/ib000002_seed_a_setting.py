"""seed a setting (the downgrade keeps it)

Revision ID: ib000002
Revises: ib000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ib000002"
down_revision = "ib000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(sa.text("INSERT INTO settings VALUES ('currency', 'EUR')"))


def downgrade() -> None:
    pass
