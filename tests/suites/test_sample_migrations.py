"""A migration test suite written the way users write one, on a history from tests/histories.

``tests/test_testcase.py`` runs this file under ``python -m unittest``, pytest and Django's
``DiscoverRunner`` and reads their output. ``GAUNTLET_SUITE_HISTORY`` picks the history
(default ``clean``); ``GAUNTLET_SUITE_DJANGO=1`` adds a Django ``SimpleTestCase`` class.
The database is ``GAUNTLET_DSN`` if set, else each process's embedded server.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import unittest
from pathlib import Path
from types import ModuleType

from gauntlet_sync import GauntletConfig
from gauntlet_sync.testcase import GauntletMixin


def _load_catalog() -> ModuleType:
    """tests/histories/catalog.py by path: this file runs from any working directory."""
    if "gauntlet_suite_catalog" in sys.modules:
        return sys.modules["gauntlet_suite_catalog"]
    path = Path(__file__).resolve().parents[1] / "histories" / "catalog.py"
    spec = importlib.util.spec_from_file_location("gauntlet_suite_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


catalog = _load_catalog()
HISTORY = os.environ.get("GAUNTLET_SUITE_HISTORY", "clean")
CONFIG = GauntletConfig(alembic_ini=catalog.ini(HISTORY), metadata=catalog.load_metadata(HISTORY))


class TestProjectGauntlet(GauntletMixin):
    """A project-wide base without TestCase: named like a test class, never collected."""

    gauntlet_config = CONFIG


class MigrationTests(TestProjectGauntlet, unittest.TestCase):
    """Every check, from one shared run."""


class TrimmedMigrationTests(GauntletMixin, unittest.TestCase):
    """Two checks switched off, two ways, and a test of the project's own."""

    gauntlet_config = CONFIG
    gauntlet_skip_checks = ("no_trace",)
    test_stairway_upgrade_downgrade = None  # type: ignore[assignment]

    def test_history_has_revisions(self) -> None:
        self.assertTrue(self.gauntlet.revisions())


if os.environ.get("GAUNTLET_SUITE_DJANGO"):
    from django.test import SimpleTestCase

    class DjangoMigrationTests(GauntletMixin, SimpleTestCase):
        """The mixin on Django's own test case class."""

        gauntlet_config = CONFIG
