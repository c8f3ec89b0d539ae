"""partial and expression indexes

Revision ID: ga000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ga000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_users_email_live",
        "users",
        ["email"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_users_lower_email", "users", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_users_lower_email", table_name="users")
    op.drop_index("ix_users_email_live", table_name="users")
    op.drop_table("users")
