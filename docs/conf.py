"""Sphinx configuration: the README as the guide, autodoc for the public API.

Built warning-free by .ci/run: ``python -m sphinx -W --keep-going -b html docs docs/_build``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gauntlet_sync  # noqa: E402

project = "gauntlet-sync"
author = "The gauntlet-sync maintainers"
copyright = "2026, The gauntlet-sync maintainers"
release = version = gauntlet_sync.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
exclude_patterns = ["_build"]
html_theme = "alabaster"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = False
# Links to the standard library only when a build may reach it; never required.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
