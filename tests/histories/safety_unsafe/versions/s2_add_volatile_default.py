"""orders.stamp NOT NULL DEFAULT clock_timestamp(): a volatile default rewrites the table

Revision ID: s1000002
Revises: s1000001
"""

import sqlalchemy as sa
from alembic import op

revision = "s1000002"
down_revision = "s1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column(
            "stamp",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
    )


def downgrade() -> None:
    op.drop_column("orders", "stamp")
