"""accounts, notes (a NOT NULL foreign key), blocked (a CHECK no generated row meets)

Revision ID: r1000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "r1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),
        sa.Column("plan", sa.Enum("free", "pro", name="plan"), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("score", sa.Integer, sa.CheckConstraint("score >= 0"), nullable=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("uid", sa.Uuid, nullable=True),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, sa.Identity(always=True), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("body", sa.String(5), nullable=False),
    )
    op.create_table(
        "blocked",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("code", sa.Text, sa.CheckConstraint("length(code) > 50"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blocked")
    op.drop_table("notes")
    op.drop_table("accounts")
    op.execute("DROP TYPE plan")
