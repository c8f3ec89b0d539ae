"""ENUM(create_type=False), created and dropped explicitly

Revision ID: ec000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ec000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = postgresql.ENUM("draft", "sent", name="invoice_state", create_type=False)
    state.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", state, nullable=False, server_default="draft"),
    )


def downgrade() -> None:
    op.drop_table("invoices")
    postgresql.ENUM(name="invoice_state").drop(op.get_bind(), checkfirst=True)
