"""a second table, and a session user a separate alembic command would not keep

The downgrade ends with ``SET SESSION AUTHORIZATION`` (a role that may write rows but
owns nothing, and may not create in the schema). Separate alembic commands each connect
anew as the user that logged in; a walk that kept the session user would find the next
step refused: the re-upgrade's ``CREATE TABLE`` ("permission denied for schema"), the
downgrade of ps000001 ("must be owner of table notes").

Revision ID: ps000002
Revises: ps000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ps000002"
down_revision = "ps000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("tags")
    op.execute("SET SESSION AUTHORIZATION pg_write_all_data")
