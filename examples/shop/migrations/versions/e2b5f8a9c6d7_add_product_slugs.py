"""data migration: give every product a unique URL slug, derived from its name

Three steps, so existing rows are handled: add the column as nullable, fill it from
the name (suffixed with the id where two names collide), then make it NOT NULL and unique.

Revision ID: e2b5f8a9c6d7
Revises: c7d9e0f1a2b4
Create Date: 2024-04-02 16:47:20

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2b5f8a9c6d7"
down_revision: str | None = "c7d9e0f1a2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The unique constraint's index is built in the transaction (the safety check's
# index-without-concurrently rule); the shop's products table is small, so we accept it:
# gauntlet: allow index-without-concurrently


def upgrade() -> None:
    op.add_column("products", sa.Column("slug", sa.String(length=200), nullable=True))
    op.execute(
        """
        UPDATE products AS p
        SET slug = trim(BOTH '-' FROM regexp_replace(lower(p.name), '[^a-z0-9]+', '-', 'g'))
                   || CASE WHEN (SELECT count(*) FROM products AS q
                                 WHERE lower(q.name) = lower(p.name)) > 1
                           THEN '-' || p.id ELSE '' END
        """
    )
    op.alter_column("products", "slug", existing_type=sa.String(length=200), nullable=False)
    op.create_unique_constraint(op.f("uq_products_slug"), "products", ["slug"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_products_slug"), "products", type_="unique")
    op.drop_column("products", "slug")
