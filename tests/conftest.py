"""Shared fixtures: the check that no test leaves an isolated schema or database behind,
and the suites under ``tests/suites/`` kept for the subprocesses that run them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gauntlet_sync import EmbeddedPostgres
from tests.reliability import leftovers

SUITES = Path(__file__).resolve().parent / "suites"


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """No test may leave a gauntlet schema or database on the shared server."""
    yield
    assert leftovers(EmbeddedPostgres.shared()) == []


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``tests/suites/`` holds projects' test suites that tests/test_testcase.py runs in
    subprocesses (unittest, pytest, Django), each against its own history: a run of the
    whole ``tests`` directory does not collect them directly as well. Named on the command
    line (as test_testcase does), they are collected."""
    if SUITES != collection_path and SUITES not in collection_path.parents:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    if any(p == SUITES or SUITES in p.parents for p in named):
        return None
    return True
