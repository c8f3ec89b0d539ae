"""after the merge

Revision ID: ma000005
Revises: ma000004
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ma000005"
down_revision = "ma000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("term_id", sa.Integer()))


def downgrade() -> None:
    op.drop_column("invoices", "term_id")
