"""``help(gauntlet_sync)`` is a usable reference (issue 16, point 5): every public class,
method, property and dataclass field is documented where ``help()`` shows it. Sphinx
builds the same docstrings into docs/ (.ci/run, with warnings as errors). The README's
table of checks, its list of the mixin's tests and ``Gauntlet``'s ``check_<name>()``
one-liners are held to the check registry.

Named for what it holds, not for one module: the documentation of the whole public API."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import pydoc
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import gauntlet_sync
from gauntlet_sync import cli, dsn, utils
from gauntlet_sync.checks import CHECKS, TEST_METHODS


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


# --- the checks: the README and Gauntlet's one-liners follow the registry ------------------

README = Path(__file__).resolve().parents[1] / "README.rst"


def _readme_checks_table() -> list[tuple[str, str]]:
    """(check, error) of each row of the README's table under "The checks"."""
    text = README.read_text()
    section = text[text.index("The checks\n~~~~~~~~~~") :]
    rules = [m.start() for m in re.finditer(r"^=+ .*$", section, re.MULTILINE)][:3]
    rows = section[rules[1] : rules[2]].splitlines()[1:]
    return re.findall(r"^``(\w+)``\s+``(\w+)``", "\n".join(rows), re.MULTILINE)


def test_the_readmes_checks_table_is_the_registry() -> None:
    """Adding a check without its README row (or in another order, or naming another error)
    fails here; so does the list of the mixin's test methods."""
    assert _readme_checks_table() == [(n, c.error.__name__) for n, c in CHECKS.items()]
    mixin = README.read_text().split("The tests: ", 1)[1].split(".\n", 1)[0]
    assert re.findall(r"``(\w+)``", mixin) == list(TEST_METHODS.values())


def _body(method: object) -> str:
    """The one statement of a ``check_<name>()`` method, as source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))  # type: ignore[arg-type]
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    statements = function.body[1:] if ast.get_docstring(function) else function.body
    assert len(statements) == 1, f"{function.name} is more than a one-liner"
    return ast.unparse(statements[0])


def test_every_check_has_its_documented_one_liner() -> None:
    """``Gauntlet.check_<name>()`` for every registered check, documented, doing nothing but
    run the registered check; and no ``check_`` method for a check that is not registered."""
    for name in CHECKS:
        method = getattr(gauntlet_sync.Gauntlet, f"check_{name}", None)
        assert method is not None, f"Gauntlet.check_{name}() is missing"
        assert (method.__doc__ or "").strip(), f"Gauntlet.check_{name}() has no docstring"
        assert _body(method) in {f"self._check({name!r})", f"return self._check({name!r})"}
    methods = {a[len("check_") :] for a in vars(gauntlet_sync.Gauntlet) if a.startswith("check_")}
    assert methods == set(CHECKS)
