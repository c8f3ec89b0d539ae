"""clients -> customers, mail -> email

Revision ID: ka000002
Revises: ka000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "ka000002"
down_revision = "ka000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("clients", "customers")
    op.alter_column("customers", "mail", new_column_name="email")
    op.execute("ALTER INDEX ix_clients_mail RENAME TO ix_customers_email")
    op.execute("ALTER SEQUENCE clients_id_seq RENAME TO customers_id_seq")


def downgrade() -> None:
    op.execute("ALTER SEQUENCE customers_id_seq RENAME TO clients_id_seq")
    op.execute("ALTER INDEX ix_customers_email RENAME TO ix_clients_mail")
    op.alter_column("customers", "email", new_column_name="mail")
    op.rename_table("customers", "clients")
