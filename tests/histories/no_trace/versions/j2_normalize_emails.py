"""normalized emails, and default country NL (BROKEN: the downgrade leaves traces)

Revision ID: j1000002
Revises: j1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "j1000002"
down_revision = "j1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("email_normalized", sa.String(length=255), nullable=True))
    op.execute(
        "CREATE OR REPLACE FUNCTION normalize_email(email text) RETURNS text "
        "LANGUAGE sql IMMUTABLE AS $$ SELECT lower(trim(email)) $$"
    )
    op.execute("UPDATE customers SET email_normalized = normalize_email(email)")
    op.alter_column(
        "customers",
        "country",
        existing_type=sa.String(length=2),
        existing_nullable=False,
        server_default="NL",
    )


def downgrade() -> None:
    op.drop_column("customers", "email_normalized")
    # Forgotten: DROP FUNCTION normalize_email(text), and restoring the old default
    # of customers.country ('US'). Upgrading again still works (CREATE OR REPLACE,
    # SET DEFAULT), and autogenerate compares neither functions nor server defaults.
