"""orders.status SET NOT NULL: scans the table under ACCESS EXCLUSIVE

Revision ID: s1000006
Revises: s1000005
"""

import sqlalchemy as sa
from alembic import op

revision = "s1000006"
down_revision = "s1000005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "status", nullable=False, existing_type=sa.Text)


def downgrade() -> None:
    op.alter_column("orders", "status", nullable=True, existing_type=sa.Text)
