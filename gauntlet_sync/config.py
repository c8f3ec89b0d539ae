"""What a run is told: the frozen ``GauntletConfig`` and the loading of what it points at."""

from __future__ import annotations

import configparser
import dataclasses
import importlib
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from .dsn import redact
from .errors import ConfigError, MetadataImportError
from .janitor import validate_prefix

Isolation = Literal["schema", "database"]
#: rows per table, or a callable that receives the migration connection.
RevisionData = Mapping[str, Sequence[Mapping[str, Any]]] | Callable[[Connection], None]

DEFAULT_IGNORE_TABLES: frozenset[str] = frozenset({"alembic_version"})

#: the ``safety`` check's rules (see gauntlet_sync/checks/safety.py and the README's table).
SAFETY_RULES: tuple[str, ...] = (
    "table-rewrite",
    "index-without-concurrently",
    "constraint-validation",
    "set-not-null",
    "enum-add-value",
    "slow-step",
    "fails-with-rows",
)
#: the rules whose findings fail ``safety`` unless ``safety_fail_on`` says otherwise (the
#: rest are warnings): each holds a lock that blocks writes (or reads) for a time that
#: grows with the table.
DEFAULT_SAFETY_FAIL_ON: frozenset[str] = frozenset(
    {
        "table-rewrite",
        "index-without-concurrently",
        "constraint-validation",
        "set-not-null",
        "slow-step",
    }
)

#: options of the ini's main section that alembic itself reads when it runs migrations.
ALEMBIC_OPTIONS: tuple[str, ...] = (
    "script_location",
    "version_locations",
    "version_path_separator",
    "path_separator",
    "prepend_sys_path",
    "recursive_version_locations",
    "file_template",
    "timezone",
    "truncate_slug_length",
    "revision_environment",
    "sourceless",
    "output_encoding",
)


@dataclasses.dataclass(frozen=True)
class NamingRule:
    """Allowed shapes for one kind of name: it passes if it fits any prefix or any suffix.

    ``prefixes``
        Accepted beginnings, e.g. ``("ix_", "idx_")``.
    ``suffixes``
        Accepted endings, e.g. ``("_idx",)``. A suffix also accepts trailing digits, as
        PostgreSQL appends them to clashing auto-generated names (``orders_pkey1``).
    """

    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class GauntletConfig:
    """Everything a run needs to know about the project under test (frozen; use
    :meth:`replace` for a variant). Every field has a default:

    ``alembic_ini`` (``"alembic.ini"``)
        Path of the project's alembic.ini, relative to the working directory.
    ``ini_section`` (``"alembic"``)
        The ini section holding ``script_location`` (alembic's ``--name``).
    ``script_location`` (``None``)
        The migration environment's directory. ``None``: the ini's ``script_location``;
        when the ini has none, a ``migrations`` directory beside the ini file (as
        pytest-alembic assumes); else a ``ConfigError`` naming both ways to set it.
    ``alembic_config`` (``None``)
        A ready alembic ``Config`` to use instead of ``alembic_ini`` (for
        ``version_locations`` or options set in code); it is copied, never changed.
    ``attributes`` (empty)
        Extra ``config.attributes`` for env.py.
    ``metadata`` (``None``)
        The models: a ``MetaData`` or a ``"module:attr"`` string imported relative to the
        working directory. ``None``: env.py's ``target_metadata`` if it sets one, else the
        checks that need models are skipped.
    ``ignore_tables`` (empty)
        Table names the models checks leave out (``alembic_version`` always is).
    ``compare_server_default`` (``False``)
        Also compare server defaults in ``models_match`` (autogenerate's option).
    ``naming_rules`` (empty)
        Per kind (``ix``, ``uq``, ``ck``, ``fk``, ``pk``) a :class:`NamingRule` replacing
        the one derived from the metadata's naming convention.
    ``minimum_downgrade_revision`` (``None``)
        Walks never downgrade this revision or its ancestors (irreversible migrations).
    ``isolation`` (``"schema"``)
        ``"schema"``: each run migrates a throwaway schema; ``"database"``: a throwaway
        database, for migrations that create schemas or extensions.
    ``prepare`` (``None``)
        Called with the connection on each fresh schema before any migration (e.g. a
        ``create_all`` baseline).
    ``revision_data`` (empty)
        Rows inserted right after a revision is applied, in every walk:
        ``{"<rev>": {"table": [row, ...]}}`` or ``{"<rev>": callable(connection)}``.
    ``statement_timeout`` (``None``), ``lock_timeout`` (10.0)
        Seconds after which a migration statement, or its wait for a lock, is cancelled
        and reported as a typed error naming the revision and the setting.
    ``step_timeout`` (``None``)
        Seconds one migration step may take, enforced on the client side (a frozen server
        or a hung statement): the statement is cancelled on the server and the step fails
        with a typed error naming the revision.
    ``connect_timeout`` (10)
        Seconds to wait for the database to answer a connection.
    ``schema_prefix`` (``"gauntlet"``)
        Beginning of the throwaway schema and database names.
    ``parallel`` (``True``)
        Lets ``run_all`` run the models checks and ``downgrade_to_base`` in a forked
        child while it walks the stairway, and split long stairways between two processes
        (only with ``fork``, not on macOS, and with no other thread running).
    ``keep_going`` (``False``)
        The stairway and ``no_trace`` go on after a failing revision (from a fresh schema
        upgraded to it in one transaction) and report every failing revision; without it
        they stop at the first and say how many revisions were not reached.
    ``safety`` (``True``)
        Run the ``safety`` check in ``run_all``'s default set (``False``: it is skipped).
    ``safety_fail_on`` (every rule but ``enum-add-value`` and ``fails-with-rows``)
        The ``safety`` rules whose findings fail the check; the others are warnings.
    ``safety_allow`` (empty)
        ``{"<rev>": ["table-rewrite", ...]}``: rules a revision may break on purpose (the
        revision file may say the same with a comment ``# gauntlet: allow table-rewrite``).
    ``minimum_safety_revision`` (``None``)
        ``safety`` leaves out this revision and its ancestors (already deployed).
    ``step_budget`` (``None``)
        Seconds: a revision's upgrade step slower than this is a ``slow-step`` finding.
    ``safety_rows`` (``True``)
        Before the stairway re-applies a revision, ``safety`` runs its upgrade once more on
        the tables it touches filled with a few generated rows, then rolls all of it back
        (``checks/safety_rows.py``): the time with rows, and a ``fails-with-rows`` finding
        when it raises there (production's tables are not empty). ``False`` switches the
        probes off (CLI ``--no-safety-rows``): they cost a second run of most upgrades,
        about +12 % of ``run_all`` at 150 revisions (``benchmarks/RESULTS.md``).
    ``changed_since`` (``None``)
        A git ref (e.g. ``"origin/main"``): the walks (stairway, no_trace, safety) cover
        only the revisions whose files were added or changed since it (working tree
        included) and every revision depending on them, from a state built by one
        upgrade transaction; ``downgrade_to_base`` steps down only through them. A change
        to env.py, ``script.py.mako`` or the ini walks everything. Not a git checkout, or
        an unknown ref: :class:`~gauntlet_sync.ChangedSinceError`.
    ``shard`` (``None``)
        ``(i, n)``: walk only the ``i``-th of ``n`` contiguous ranges of about equal cost
        of the revisions to walk (1-based), from a state built by one upgrade
        transaction; the head-state checks run in shard 1 only (skipped, with the reason,
        in the others). ``merge-reports`` joins the ``n`` reports into the full run's.
    ``shard_timings`` (``None``)
        Seconds per revision to cut the shards by: a JSON report of an earlier run (its
        ``revision_seconds``) or a mapping; ``None``: every revision costs the same.
    ``extra_checks`` (empty)
        Checks that are off by default for ``run_all`` (and the TestCase mixin) to run as
        well, e.g. ``["offline"]``; ``run_all(checks=[...])`` still runs exactly those.
    """

    alembic_ini: str | os.PathLike[str] | None = "alembic.ini"
    ini_section: str = "alembic"
    script_location: str | None = None
    alembic_config: Config | None = None
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    metadata: MetaData | str | None = None
    ignore_tables: frozenset[str] | Sequence[str] = frozenset()
    compare_server_default: bool = False
    naming_rules: Mapping[str, NamingRule] = dataclasses.field(default_factory=dict)
    minimum_downgrade_revision: str | None = None
    isolation: Isolation = "schema"
    prepare: Callable[[Connection], None] | None = None
    revision_data: Mapping[str, RevisionData] = dataclasses.field(default_factory=dict)
    statement_timeout: float | None = None
    lock_timeout: float | None = 10.0
    connect_timeout: int = 10
    step_timeout: float | None = None
    schema_prefix: str = "gauntlet"
    parallel: bool = True
    keep_going: bool = False
    safety: bool = True
    safety_fail_on: frozenset[str] | Sequence[str] = DEFAULT_SAFETY_FAIL_ON
    safety_allow: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    minimum_safety_revision: str | None = None
    step_budget: float | None = None
    safety_rows: bool = True
    changed_since: str | None = None
    shard: tuple[int, int] | None = None
    shard_timings: str | os.PathLike[str] | Mapping[str, float] | None = None
    extra_checks: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check_scope(self.changed_since, self.shard)
        if self.shard is not None:
            object.__setattr__(self, "shard", tuple(self.shard))
        if isinstance(self.extra_checks, str):
            raise ConfigError(
                f"extra_checks must be a list of check names, not the string {self.extra_checks!r}."
            )
        _check_safety_rules(self.safety_fail_on, "safety_fail_on")
        for revision, rules in self.safety_allow.items():
            _check_safety_rules(rules, f"safety_allow[{revision!r}]")
        if self.isolation not in ("schema", "database"):
            raise ConfigError(f"isolation must be 'schema' or 'database', not {self.isolation!r}.")
        unknown = set(self.naming_rules) - set(NAMING_KINDS)
        if unknown:
            raise ConfigError(
                f"naming_rules keys must be among {', '.join(NAMING_KINDS)}; "
                f"got {', '.join(sorted(unknown))}."
            )
        for name in ("statement_timeout", "lock_timeout", "step_timeout"):
            seconds = getattr(self, name)
            number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
            if seconds is not None and not (number and math.isfinite(seconds) and seconds >= 0):
                raise ConfigError(
                    f"{name} must be a finite number of seconds (0 or None: no limit); "
                    f"got {seconds!r}."
                )
        # Checked here, not at the first CREATE SCHEMA: a bad prefix is a config error.
        validate_prefix(self.schema_prefix)
        if self.alembic_config is None and self.alembic_ini is None:
            raise ConfigError("Give alembic_ini (a path) or alembic_config (an alembic Config).")

    @property
    def ignored_tables(self) -> frozenset[str]:
        """``ignore_tables`` plus the ones always left out (``alembic_version``)."""
        return DEFAULT_IGNORE_TABLES | frozenset(self.ignore_tables)

    def replace(self, **changes: Any) -> GauntletConfig:
        """A copy with ``changes`` (field names) applied, validated like a new one."""
        return dataclasses.replace(self, **changes)


NAMING_KINDS: tuple[str, ...] = ("ix", "uq", "ck", "fk", "pk")


def _check_scope(changed_since: object, shard: object) -> None:
    if changed_since is not None and (not isinstance(changed_since, str) or not changed_since):
        raise ConfigError(
            f"changed_since must be a git ref such as 'origin/main'; got {changed_since!r}."
        )
    if shard is None:
        return
    ok = (
        isinstance(shard, (tuple, list))
        and len(shard) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in shard)
        and 1 <= shard[0] <= shard[1]
    )
    if not ok:
        raise ConfigError(
            f"shard must be (i, n) with 1 <= i <= n, e.g. (2, 4) for the second of four "
            f"(CLI: --shard 2/4); got {shard!r}."
        )


def _check_safety_rules(rules: Sequence[str] | frozenset[str], where: str) -> None:
    if isinstance(rules, str):
        raise ConfigError(f"{where} must be a list of rule ids, not the string {rules!r}.")
    unknown = sorted(set(rules) - set(SAFETY_RULES))
    if unknown:
        raise ConfigError(
            f"{where}: unknown safety rule(s) {', '.join(unknown)}; "
            f"the rules are {', '.join(SAFETY_RULES)}."
        )


def load_alembic_config(cfg: GauntletConfig) -> Config:
    """A private copy of the alembic ``Config``, so a run's attributes never leak out.

    An ini file ``configparser`` cannot read (bad bytes, no section header, a duplicate
    option, ``%(name)s`` naming no option) is a :class:`ConfigError` naming the file and
    the line, found here rather than as a traceback from deep inside alembic later.
    """
    try:
        return _load_alembic_config(cfg)
    except (configparser.Error, UnicodeDecodeError) as exc:
        where = cfg.alembic_ini if cfg.alembic_config is None else "the alembic Config's ini file"
        raise ConfigError(f"Cannot read {where}: {_ini_problem(exc)}") from None


def _ini_problem(exc: configparser.Error | UnicodeDecodeError) -> str:
    """What is wrong with the ini file and how to fix it, in one line."""
    if isinstance(exc, UnicodeDecodeError):
        line = exc.object[: exc.start].count(b"\n") + 1
        return (
            f"it is not UTF-8 (byte 0x{exc.object[exc.start]:02x} on line {line}). "
            "Save it as UTF-8."
        )
    text = redact(" ".join(str(exc).split()))  # a Raw value may be a URL with a password
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{text}. Start it with a section header such as [alembic]."
    if isinstance(exc, configparser.InterpolationError):
        return f"{text}. Write a literal % as %%, or define the option the %(...)s names."
    if isinstance(exc, (configparser.DuplicateOptionError, configparser.DuplicateSectionError)):
        return f"{text}. Keep one of them."
    return f"{text}. Fix the ini file's syntax."


def _load_alembic_config(cfg: GauntletConfig) -> Config:
    if cfg.alembic_config is not None:
        source = cfg.alembic_config
        toml_name = getattr(source, "toml_file_name", None)  # alembic >= 1.16
        config = Config(
            source.config_file_name,
            ini_section=source.config_ini_section,
            attributes=dict(source.attributes),
            cmd_opts=source.cmd_opts,
            **({"toml_file": toml_name} if toml_name else {}),
        )
        for key, value in _main_options(source).items():
            config.set_main_option(key, value)  # raw: already escaped
        _copy_own_attributes(source, config)
    else:
        ini = Path(os.fspath(cfg.alembic_ini or "alembic.ini"))
        if not ini.is_file():
            raise ConfigError(
                f"Alembic ini file not found: {ini} (working directory {Path.cwd()}). "
                "Pass alembic_ini= (CLI: -c/--config) with the path of your alembic.ini."
            )
        toml = ini.parent / "pyproject.toml"  # alembic's pyproject templates keep it there
        extra: dict[str, Any] = {"toml_file": str(toml)} if _has_tool_alembic(toml) else {}
        config = Config(str(ini), ini_section=cfg.ini_section, **extra)
        if not config.file_config.has_section(cfg.ini_section):
            raise ConfigError(
                f"Section [{cfg.ini_section}] not found in {ini}. "
                "Pass ini_section= (CLI: --name) with the section that holds script_location."
            )
    if cfg.script_location:
        config.set_main_option("script_location", cfg.script_location)
    config.attributes.update(cfg.attributes)
    for key in ALEMBIC_OPTIONS:  # what alembic reads resolves, now (not deep inside it)
        config.get_main_option(key)
    if not _alembic_option(config, "script_location"):
        default = default_script_location(config)
        if not default.is_dir():
            raise ConfigError(
                f"No script_location in [{config.config_ini_section}] of "
                f"{config.config_file_name or 'the alembic config'}, and no {default} "
                "directory to fall back on: set it there or pass script_location= "
                "(CLI: --script-location)."
            )
        config.set_main_option("script_location", str(default).replace("%", "%%"))
    return config


def _copy_own_attributes(source: Config, config: Config) -> None:
    """The Python attributes the user's code set on ``source`` itself, on ``config`` too.

    OpenStack's neutron and octavia hand env.py their settings that way
    (``config.octavia_config = CONF``), not through ``attributes``, and their env.py exits
    without it. What ``Config`` itself keeps in the instance (the ini's file names and
    parser, ``attributes``, the cached properties) stays the copy's own."""
    own = vars(config)
    for key, value in vars(source).items():
        if key not in own and not hasattr(type(source), key):
            setattr(config, key, value)


def default_script_location(config: Config) -> Path:
    """Where the migrations are when nothing says: ``migrations`` beside the ini file (the
    working directory when the config has no file), as pytest-alembic assumes."""
    ini = config.config_file_name
    base = Path(ini).resolve().parent if ini else Path.cwd()
    return base / "migrations"


def _has_tool_alembic(toml: Path) -> bool:
    """Whether ``toml`` is a pyproject.toml with a ``[tool.alembic]`` table."""
    try:
        return toml.is_file() and "[tool.alembic]" in toml.read_text(encoding="utf-8")
    except OSError:
        return False


def _alembic_option(config: Config, name: str) -> str | None:
    """An alembic option from alembic.ini or, with alembic >= 1.16, pyproject.toml."""
    getter = getattr(config, "get_alembic_option", None)
    value = getter(name) if getter is not None else config.get_main_option(name)
    return str(value) if value else None


def _main_options(config: Config) -> dict[str, str]:
    """Options set in code on a ready Config (not visible through its ini file)."""
    section = config.config_ini_section
    if not config.file_config.has_section(section):
        return {}
    return {
        key: config.file_config.get(section, key, raw=True)
        for key in config.file_config.options(section)
    }


def resolve_metadata(metadata: MetaData | str | None) -> MetaData | None:
    """Import a ``"module:attr"`` string relative to the working directory."""
    if metadata is None or isinstance(metadata, MetaData):
        return metadata
    if not isinstance(metadata, str) or metadata.count(":") != 1:
        raise MetadataImportError(
            f"metadata must be a MetaData or a 'module:attr' string such as "
            f"'myapp.models:Base.metadata'; got {metadata!r}."
        )
    module_name, attr_path = metadata.split(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # sys.exit() at import ends no run quietly
        raise MetadataImportError(
            f"Cannot import module {module_name!r} for metadata {metadata!r}: "
            f"{type(exc).__name__}: {exc}. Run from the project root or fix the module path."
        ) from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise MetadataImportError(
                f"Module {module_name!r} has no attribute path {attr_path!r} "
                f"(missing {part!r}); point metadata at your MetaData, e.g. "
                f"'{module_name}:Base.metadata'."
            ) from None
    if not isinstance(target, MetaData):
        raise MetadataImportError(
            f"{metadata!r} is a {type(target).__name__}, not a sqlalchemy MetaData; "
            "point it at e.g. Base.metadata."
        )
    return target
