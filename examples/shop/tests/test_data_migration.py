"""A hand-written test of the slug data migration, next to the built-in checks.

The built-in checks prove the migration runs; this proves it does the right thing to
real rows: products put in before ``e2b5f8a9c6d7`` get the expected slugs after it, and
its downgrade gives the table back as it was.
"""

from __future__ import annotations

import unittest
from pathlib import Path

from gauntlet_sync import CHECK_NAMES, GauntletConfig, GauntletMixin

SHOP = Path(__file__).resolve().parents[1]


class SlugMigrationTests(GauntletMixin, unittest.TestCase):
    gauntlet_config = GauntletConfig(alembic_ini=SHOP / "alembic.ini")
    # This class only holds hand-written tests: ShopMigrationTests runs the built-in ones.
    gauntlet_skip_checks = CHECK_NAMES

    def test_slugs_are_derived_from_names_and_removed_by_the_downgrade(self) -> None:
        with self.gauntlet.isolated() as db:
            db.migrate_to("c7d9e0f1a2b4")  # the revision before the data migration
            db.insert(
                "products",
                [
                    {"id": 1, "sku": "MUG-1", "name": "Coffee mug", "price": "9.50"},
                    {"id": 2, "sku": "MUG-2", "name": "coffee MUG", "price": "12.00"},
                    {"id": 3, "sku": "TEE-1", "name": "T-shirt (large)", "price": "19.90"},
                ],
            )

            db.upgrade("e2b5f8a9c6d7")
            self.assertEqual(
                db.fetch("SELECT id, slug FROM products ORDER BY id"),
                [(1, "coffee-mug-1"), (2, "coffee-mug-2"), (3, "t-shirt-large")],
            )

            db.downgrade("-1")
            self.assertEqual(db.current_revision(), "c7d9e0f1a2b4")
            columns = db.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'products' "
                "ORDER BY ordinal_position"
            )
            self.assertNotIn(("slug",), columns)
            self.assertEqual(db.fetch("SELECT count(*) FROM products"), [(3,)])


if __name__ == "__main__":
    unittest.main()
