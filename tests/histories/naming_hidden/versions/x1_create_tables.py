"""create customers, and the tables env.py hides: legacy_log and archive_events

Revision ID: x1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "x1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    # Not mapped; hidden by include_name. No rule accepts these names.
    op.create_table(
        "legacy_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.CheckConstraint("level > 0", name="legacy_level_positive"),
        sa.PrimaryKeyConstraint("id", name="legacy_log_primary"),
    )
    op.create_index("LegacyLogLevel", "legacy_log", ["level"])
    # Mapped but hidden by include_object: the models name these
    # ck_archive_events_kind_not_empty and ix_archive_events_kind.
    op.create_table(
        "archive_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.CheckConstraint("kind <> ''", name="archive_kind_check"),
        sa.PrimaryKeyConstraint("id", name="archive_events_pk"),
    )
    op.create_index("archive_events_by_kind", "archive_events", ["kind"])


def downgrade() -> None:
    op.drop_index("archive_events_by_kind", table_name="archive_events")
    op.drop_table("archive_events")
    op.drop_index("LegacyLogLevel", table_name="legacy_log")
    op.drop_table("legacy_log")
    op.drop_table("customers")
