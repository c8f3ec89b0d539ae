"""CREATE INDEX CONCURRENTLY in an autocommit block

Revision ID: ga000002
Revises: ga000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "ga000002"
down_revision = "ga000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_users_deleted_at", "users", ["deleted_at"], postgresql_concurrently=True
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_users_deleted_at", table_name="users", postgresql_concurrently=True)
