"""a trigger dropped in the wrong order

Revision ID: jb000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "jb000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("n", sa.Integer())
    )
    op.execute(
        "CREATE FUNCTION items_guard() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER items_guard BEFORE INSERT ON items "
        "FOR EACH ROW EXECUTE FUNCTION items_guard()"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION items_guard()")
    op.drop_table("items")
