"""change a server default, add an identity table

Revision ID: fa000002
Revises: fa000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "fa000002"
down_revision = "fa000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("invoices", "status", server_default="open", existing_type=sa.String(10))
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Integer(), sa.Identity(start=10, increment=5), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("credit_notes")
    op.alter_column("invoices", "status", server_default="new", existing_type=sa.String(10))
