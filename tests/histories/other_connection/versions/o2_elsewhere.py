"""users.created, added and dropped on a connection of the migration's own

An engine of its own (gauntlet-sync's redirect points it at the isolated target), each
statement committed there: the walk connection holds no lock of that DDL.

Revision ID: o1000002
"""

import sqlalchemy as sa
from alembic import op

revision = "o1000002"
down_revision = "o1000001"
branch_labels = None
depends_on = None


def _elsewhere(statement: str) -> None:
    engine = sa.create_engine(op.get_bind().engine.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as other:
            other.execute(sa.text(statement))
    finally:
        engine.dispose()


def upgrade() -> None:
    _elsewhere("ALTER TABLE users ADD COLUMN created timestamp")


def downgrade() -> None:
    _elsewhere("ALTER TABLE users DROP COLUMN created")
