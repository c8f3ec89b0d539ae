"""clients

Revision ID: ka000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ka000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mail", sa.String(100)),
    )
    op.create_index("ix_clients_mail", "clients", ["mail"])


def downgrade() -> None:
    op.drop_index("ix_clients_mail", table_name="clients")
    op.drop_table("clients")
