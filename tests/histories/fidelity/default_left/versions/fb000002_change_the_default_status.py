"""change the default status (downgrade forgets it)

Revision ID: fb000002
Revises: fb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "fb000002"
down_revision = "fb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "status", server_default="open", existing_type=sa.String(10))


def downgrade() -> None:
    pass
