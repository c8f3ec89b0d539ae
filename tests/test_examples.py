"""The example project's own test suite passes, hand-written data-migration test included.

Named for what it holds, not for one module: the example project (examples/shop)."""

from __future__ import annotations

import io
import re
import unittest
from pathlib import Path

from gauntlet_sync import DEFAULT_CHECKS

EXAMPLE_TESTS = Path(__file__).resolve().parents[1] / "examples" / "shop" / "tests"


def test_the_shop_example_suite_passes_in_process() -> None:
    suite = unittest.defaultTestLoader.discover(
        str(EXAMPLE_TESTS), top_level_dir=str(EXAMPLE_TESTS)
    )
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    output = stream.getvalue()
    assert result.wasSuccessful(), output
    for test in (
        "SlugMigrationTests.test_slugs_are_derived_from_names_and_removed_by_the_downgrade",
        "ShopMigrationTests.test_stairway_upgrade_downgrade",
        "ShopMigrationTests.test_downgrade_leaves_no_trace",
    ):
        assert re.search(re.escape(test) + r"\) \.\.\. ok", output), (test, output)
    # one test per check and the shop's two own tests
    assert result.testsRun - len(result.skipped) == len(DEFAULT_CHECKS) + 2, output
