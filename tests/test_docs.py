"""``help(gauntlet_sync)`` is a usable reference (issue 16, point 5): every public class,
method, property and dataclass field is documented where ``help()`` shows it. Sphinx
builds the same docstrings into docs/ (.ci/run, with warnings as errors).

Named for what it holds, not for one module: the documentation of the whole public API."""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
from collections.abc import Iterator
from types import ModuleType

import gauntlet_sync
from gauntlet_sync import cli, dsn, utils


def _public(module: ModuleType, names: list[str]) -> Iterator[tuple[str, object]]:
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", "").startswith("gauntlet_sync") and (
            inspect.isclass(obj) or inspect.isfunction(obj)
        ):
            yield f"{module.__name__}.{name}", obj


def _undocumented() -> Iterator[str]:
    for where, obj in [
        *_public(gauntlet_sync, gauntlet_sync.__all__),
        *_public(dsn, ["to_url", "mask", "redact"]),
        *_public(utils, utils.__all__),
        *_public(cli, ["main", "run", "build_parser", "ProgressPrinter"]),
    ]:
        if not (obj.__doc__ or "").strip():
            yield where
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") or (
                obj is gauntlet_sync.GauntletMixin and attr.startswith("test_")
            ):
                # The mixin's test methods are listed in its docstring: a docstring of their
                # own would replace their names in unittest's verbose output.
                continue
            function = value.fget if isinstance(value, property) else value
            function = getattr(function, "__func__", function)  # class/static methods
            if inspect.isfunction(function) and not (function.__doc__ or "").strip():
                yield f"{where}.{attr}"
        if dataclasses.is_dataclass(obj):
            for field in dataclasses.fields(obj):
                if f"``{field.name}``" not in (obj.__doc__ or ""):
                    yield f"{where}: field {field.name} is not in the class docstring"


def test_every_public_class_method_and_field_has_a_docstring() -> None:
    assert list(_undocumented()) == []


def test_help_renders_the_package_and_its_entry_points() -> None:
    text = pydoc.render_doc(gauntlet_sync, renderer=pydoc.plaintext)
    assert "put an Alembic migration history through a gauntlet" in text
    config = pydoc.render_doc(gauntlet_sync.GauntletConfig, renderer=pydoc.plaintext)
    for field in dataclasses.fields(gauntlet_sync.GauntletConfig):
        assert f"``{field.name}``" in config, field.name
    gauntlet = pydoc.render_doc(gauntlet_sync.Gauntlet, renderer=pydoc.plaintext)
    assert "check_stairway" in gauntlet and "run_all" in gauntlet
