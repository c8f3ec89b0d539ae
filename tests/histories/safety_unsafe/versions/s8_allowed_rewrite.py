"""orders.code varchar(10) -> integer: a rewrite, planned (the marker allows it)

Revision ID: s1000008
Revises: s1000007
"""

import sqlalchemy as sa
from alembic import op

revision = "s1000008"
down_revision = "s1000007"
branch_labels = None
depends_on = None

# gauntlet: allow table-rewrite


def upgrade() -> None:
    op.alter_column(
        "orders",
        "code",
        type_=sa.Integer,
        existing_type=sa.String(10),
        postgresql_using="code::integer",
    )


def downgrade() -> None:
    op.alter_column("orders", "code", type_=sa.String(10), existing_type=sa.Integer)
