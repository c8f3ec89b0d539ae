"""Shared fixtures: the check that no test leaves an isolated schema or database behind,
an engine on the shared server and its schema names, and the suites under
``tests/suites/`` kept for the subprocesses that run them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gauntlet_sync import EmbeddedPostgres
from tests.reliability import leftovers

SUITES = Path(__file__).resolve().parent / "suites"


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """No test may leave a gauntlet schema or database on the shared server."""
    yield
    assert leftovers(EmbeddedPostgres.shared()) == []


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine on the shared embedded server (no pool: nothing stays connected)."""
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def schemas(engine: Engine) -> Callable[[], set[str]]:
    """The names of the schemas in the shared server's database, read when called."""

    def names() -> set[str]:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT nspname FROM pg_namespace"))}

    return names


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
