"""study_directions names the enum type qb000001 made (optuna v2.4.0.a's shape)

On its own (``alembic upgrade qb000002`` after ``alembic upgrade qb000001``) the
create_table's CREATE TYPE fails: the type exists. In one command from an empty database
(``alembic upgrade qb000002``) it passes: that command's context remembers creating the type
in qb000001 and skips it. So its stairway step fails, and the revisions after it can still
be walked from a database upgraded to it in one command.

Revision ID: qb000002
Revises: qb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qb000002"
down_revision = "qb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_directions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("direction", sa.Enum("minimize", "maximize", name="direction"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("study_directions")
