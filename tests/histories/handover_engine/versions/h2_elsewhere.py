"""users.created, added and dropped on another connection of the hand-over's own engine

``op.get_bind().engine.connect()``: the engine gauntlet-sync handed the migration
connection from (its URL is the isolated target's, so the connection lands there), each
statement committed there: the walk connection holds no lock of that DDL.

Revision ID: h0000002
"""

import sqlalchemy as sa
from alembic import op

revision = "h0000002"
down_revision = "h0000001"
branch_labels = None
depends_on = None


def _elsewhere(statement: str) -> None:
    with op.get_bind().engine.connect() as other:
        other.execute(sa.text(statement))
        other.commit()


def upgrade() -> None:
    _elsewhere("ALTER TABLE users ADD COLUMN created timestamp")


def downgrade() -> None:
    _elsewhere("ALTER TABLE users DROP COLUMN created")
