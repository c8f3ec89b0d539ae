"""settings

Revision ID: ib000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ib000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(20)),
    )


def downgrade() -> None:
    op.drop_table("settings")
