"""raise every job's retries, with the value as a string, as the settings hold it

Works where values are bound client-side (psycopg2 writes '3' into the SQL and PostgreSQL
coerces the literal); with psycopg 3's server-side binding the parameter is sent as a
VARCHAR (SQLAlchemy types it from the value) and PostgreSQL refuses it for an integer
column: DatatypeMismatch.

Revision ID: w1000002
Revises: w1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "w1000002"
down_revision = "w1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE jobs SET max_retries = :v").bindparams(v="3"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE jobs SET max_retries = :v").bindparams(v="1"))
