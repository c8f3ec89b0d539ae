"""The shop's migration tests: the whole gauntlet, one unittest test per check.

Run from ``examples/shop``: ``python -m unittest discover -s tests -v`` (or
``python -m pytest tests``). No database to set up: without ``GAUNTLET_DSN`` an embedded
PostgreSQL is started for the run and removed afterwards.
"""

from __future__ import annotations

import unittest
from pathlib import Path

from gauntlet_sync import GauntletConfig, GauntletMixin

SHOP = Path(__file__).resolve().parents[1]

# Rows inserted right after products are created, so the slug data migration has real
# names to convert, two of which collide ("Coffee mug" / "coffee MUG").
PRODUCTS = [
    {"id": 1, "sku": "MUG-1", "name": "Coffee mug", "price": "9.50"},
    {"id": 2, "sku": "MUG-2", "name": "coffee MUG", "price": "12.00"},
    {"id": 3, "sku": "TEE-1", "name": "T-shirt (large)", "price": "19.90"},
]


class ShopMigrationTests(GauntletMixin, unittest.TestCase):
    # The models come from env.py's target_metadata; alembic.ini puts the project on sys.path.
    gauntlet_config = GauntletConfig(
        alembic_ini=SHOP / "alembic.ini",
        revision_data={"8a4e6b2c1f03": {"products": PRODUCTS}},
    )

    def test_history_is_linear(self) -> None:
        self.assertEqual(self.gauntlet.heads(), ["e2b5f8a9c6d7"])
        self.assertEqual(len(self.gauntlet.revisions()), 4)


if __name__ == "__main__":
    unittest.main()
