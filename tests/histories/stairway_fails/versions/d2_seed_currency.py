"""data migration: seed the default currency (BROKEN: the downgrade keeps the row)

Revision ID: d1000002
Revises: d1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "d1000002"
down_revision = "d1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new id each time, so a second run trips over the unique key, not the PK.
    op.execute(
        "INSERT INTO settings (id, key, value) "
        "SELECT coalesce(max(id), 0) + 1, 'currency', 'EUR' FROM settings"
    )


def downgrade() -> None:
    # The seeded row is left in place: row data is not schema, so nothing in the
    # catalog changes, but upgrading this revision again inserts a duplicate key.
    pass
