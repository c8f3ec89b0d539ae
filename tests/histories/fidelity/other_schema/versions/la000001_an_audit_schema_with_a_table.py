"""an audit schema with a table

Revision ID: la000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "la000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA audit")
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.Enum("login", "logout", name="event_kind", schema="audit")),
        schema="audit",
    )
    op.create_index("ix_events_kind", "events", ["kind"], schema="audit")


def downgrade() -> None:
    op.drop_table("events", schema="audit")
    op.execute("DROP TYPE audit.event_kind")
    op.execute("DROP SCHEMA audit")
