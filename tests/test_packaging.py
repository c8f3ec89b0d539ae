"""The package is ready to publish: license, metadata, a long description that renders as
PyPI renders it, and an sdist from which the test suite runs (issue 16, point 9).

The sdist is built without build isolation (from the setuptools of this environment, no
download) once per session; .ci/run builds it again with isolation and collects the tests.

Named for what it holds, not for one module: the package as published.
"""

from __future__ import annotations

import email.parser
import fcntl
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.reliability import ROOT, child_env


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked sdist of this checkout, built once per test run: pytest-xdist's workers
    share it (two builds at once would collide in the checkout's staging directory)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    out = shared / "sdist"
    with open(shared / "sdist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "unpacked").is_dir():
            _build_sdist(out)
    (tree,) = (out / "unpacked").iterdir()
    return tree


def _build_sdist(out: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (archive,) = out.glob("gauntlet?sync-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(out / "staging", filter="data")
    (out / "staging").rename(out / "unpacked")


def tracked(*paths: str) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", *paths], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return listing.stdout.split()


def test_the_license_is_mit_in_file_metadata_and_classifiers(sdist: Path) -> None:
    assert (sdist / "LICENSE").read_text().startswith("MIT License")
    info = email.parser.Parser().parsestr((sdist / "PKG-INFO").read_text())
    assert info["License"] == "MIT"
    assert "License :: OSI Approved :: MIT License" in info.get_all("Classifier")
    assert info["License-File"] == "LICENSE"


def test_the_metadata_names_author_urls_versions_and_status(sdist: Path) -> None:
    info = email.parser.Parser().parsestr((sdist / "PKG-INFO").read_text())
    classifiers = info.get_all("Classifier")
    assert info["Author"]
    assert {url.split(",")[0] for url in info.get_all("Project-URL")} >= {"Source", "Issues"}
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert "Typing :: Typed" in classifiers
    assert info["Requires-Python"] == ">=3.10"


def test_the_long_description_renders_as_pypi_renders_it() -> None:
    readme = (ROOT / "README.rst").read_text()
    assert "not on PyPI" not in readme
    assert "pip install gauntlet-sync" in readme
    # readme_renderer is what PyPI (and `twine check`) runs: non-zero on any rst error.
    rendered = subprocess.run(
        [sys.executable, "-m", "readme_renderer", str(ROOT / "README.rst"), "-o", "/dev/null"],
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr


def test_the_sdist_holds_everything_the_tests_need(sdist: Path) -> None:
    files = tracked("tests", "examples", "docs")
    missing = [f for f in files if not (sdist / f).is_file()]
    assert missing == []
    for name in ("tox.ini", "LICENSE", "README.rst", "gauntlet_sync/py.typed"):
        assert (sdist / name).is_file(), name
    assert (sdist / "tests" / "__init__.py").is_file()
    assert (sdist / "tests" / "reliability.py").is_file()


def test_pytest_collects_the_suite_from_the_sdist(sdist: Path) -> None:
    """The tests import the package from the unpacked tree (the working directory comes
    first on ``sys.path`` with ``python -m pytest``), not from this checkout."""
    env = child_env()
    env.pop("PYTHONPATH")
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert re.search(r"^\d+ tests collected", collected.stdout, re.M), collected.stdout
    files = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    assert files == {
        str(f.relative_to(ROOT))
        for f in ROOT.glob("tests/**/test_*.py")
        if "suites" not in f.parts  # run in subprocesses only (tests/conftest.py)
    }
