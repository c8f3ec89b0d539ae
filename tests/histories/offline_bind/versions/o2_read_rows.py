"""upper-case item names, reading the rows through op.get_bind() (no offline SQL)

Revision ID: o1000002
Revises: o1000001
"""

import sqlalchemy as sa
from alembic import op

revision = "o1000002"
down_revision = "o1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT id, name FROM items")).fetchall()
    for row in rows:
        op.execute(
            sa.text("UPDATE items SET name = upper(name) WHERE id = :id").bindparams(id=row.id)
        )


def downgrade() -> None:
    pass
