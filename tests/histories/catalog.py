"""Hand-written Alembic histories for testing gauntlet-sync, and what each one must yield.

Each ``<name>/`` holds an ``alembic.ini`` (its env.py is shared, in ``_envs/<env>/``), a
``models.py`` whose ``Base.metadata`` is the head of the history, and ``versions/``.
Histories use only unqualified names: the library runs them in an isolated schema through
``search_path`` (``escape`` breaks that on purpose).

Importable as ``tests.histories.catalog`` or loaded by path; it imports nothing from the
library, so the expectations stay an independent statement of what the checks must find.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import MetaData

HISTORIES: Path = Path(__file__).resolve().parent

#: every check of run_all's default set, in report order: written out here (not read from
#: the library) so that the expectations stay independent; tests/test_checks_registry.py
#: holds it equal to the registry's default set, so a new check cannot go without its
#: expectations (``offline`` is opt-in: tests/test_checks_offline.py).
CHECKS = (
    "single_head",
    "upgrade",
    "stairway",
    "downgrade_to_base",
    "models_match",
    "check_constraints",
    "enums",
    "naming",
    "no_trace",
    "safety",
    "isolation",
)


def ini(name: str) -> str:
    """Absolute path of history ``name``'s alembic.ini."""
    path = HISTORIES / name / "alembic.ini"
    if not path.is_file():
        raise FileNotFoundError(f"no test history named {name!r} ({path} is missing)")
    return str(path)


def load_metadata(name: str) -> MetaData:
    """Import ``<name>/models.py`` by path and return its ``Base.metadata``.

    Every history defines tables with the same names (customers, orders...), so each
    models module gets its own module name and its own declarative ``Base``; a second call
    returns the already imported module's metadata.
    """
    module_name = f"gauntlet_history_{name}_models"
    module = sys.modules.get(module_name)
    if module is None:
        path = HISTORIES / name / "models.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        # Registered before exec: declarative resolves Mapped[...] annotations through
        # sys.modules[cls.__module__].
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module.Base.metadata


@dataclass(frozen=True)
class Expectation:
    """What running every check on ``history`` (with ``config``) must produce."""

    history: str
    statuses: dict[str, str]  # check -> "passed" | "failed" | "skipped" | "error", all of CHECKS
    failing_check: str | None  # the check this history breaks (None for clean ones)
    error_class: str | None  # class name in gauntlet_sync.errors, e.g. "StairwayError"
    revision: str | None  # revision id the failure message must name (None if n/a)
    message_contains: tuple[str, ...]  # substrings the failure message must contain
    config: dict[str, object] = field(default_factory=dict)  # extra GauntletConfig kwargs


def _statuses(default: str = "passed", **overrides: str) -> dict[str, str]:
    unknown = set(overrides) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}")
    return {check: overrides.get(check, default) for check in CHECKS}


def _clean(history: str, **config: object) -> Expectation:
    return Expectation(history, _statuses(), None, None, None, (), dict(config))


def _fails(
    history: str,
    check: str,
    error_class: str,
    *words: str,
    revision: str | None = None,
    **statuses: str,
) -> Expectation:
    """``history`` fails ``check`` with ``error_class``, its message naming ``words``; the
    other checks pass unless ``statuses`` says otherwise."""
    return Expectation(
        history, _statuses(**{check: "failed", **statuses}), check, error_class, revision, words
    )


#: ``safety`` (tests/test_safety.py has its own histories, safety_unsafe and safety_safe):
#: the revisions here that index, validate or rewrite a table an earlier revision created
#: carry ``# gauntlet: allow <rule>`` (they test other checks), so safety passes on them.
EXPECTATIONS: list[Expectation] = [
    # a1000001..a1000004: PK, FK, index, unique, CHECK, native enum, data migration.
    _clean("clean"),
    # b1000002 and b1000003 both branch from b1000001 and are never merged. Every other
    # check works on all heads (upgrade "heads", stairway over both branches).
    _fails("multiple_heads", "single_head", "MultipleHeadsError", "b1000002", "b1000003"),
    # c1000002 creates an index on orders.reference, which no revision adds:
    # psycopg.errors.UndefinedColumn 'column "reference" does not exist'.
    Expectation(
        "upgrade_fails",
        _statuses(
            "error",
            single_head="passed",
            upgrade="failed",
            stairway="failed",  # StairwayError at c1000002, step "upgrade"
        ),
        failing_check="upgrade",
        error_class="UpgradeError",
        revision="c1000002",
        message_contains=("c1000002", "reference"),
    ),
    # d1000002 seeds settings(key='currency') and its downgrade keeps the row, so the
    # stairway's second upgrade of d1000002 violates uq_settings_key. Row data is not
    # catalog, so no_trace passes; downgrade_to_base never upgrades twice, so it passes.
    _fails(
        "stairway_fails",
        "stairway",
        "StairwayError",
        "d1000002",
        "uq_settings_key",
        revision="d1000002",
    ),
    # e1000003 stores barcode 'GIFT-CARD' and keeps it on downgrade; e1000002's downgrade
    # casts barcode back USING barcode::integer, which only fails on that row. The stairway
    # downgrades e1000002 before e1000003 ever ran, so only downgrade_to_base fails:
    # 'invalid input syntax for type integer: "GIFT-CARD"'.
    _fails(
        "downgrade_fails",
        "downgrade_to_base",
        "DowngradeError",
        "e1000002",
        "integer",
        revision="e1000002",
    ),
    # models.py has orders.note; no revision creates it.
    _fails(
        "models_drift",
        "models_match",
        "SchemaDriftError",
        "add column orders.note VARCHAR(20)",
    ),
    # Model: ck_orders_total_nonnegative; database: ck_orders_total_positive. Both follow
    # the ck_ convention and autogenerate does not compare CHECK constraints.
    _fails(
        "check_drift",
        "check_constraints",
        "CheckConstraintDriftError",
        "orders",
        "ck_orders_total_nonnegative",
        "ck_orders_total_positive",
    ),
    # Model order_status: new, paid, shipped, cancelled; the PG type lacks 'cancelled'.
    # Autogenerate (compare_type on) does not compare enum labels.
    _fails("enum_drift", "enums", "EnumDriftError", "order_status", "cancelled"),
    # The database's PK orders_pkey and FK fk_orders_customer are pk_orders and
    # fk_orders_customer_id_customers in the models. Autogenerate compares neither name and
    # both fit the prefix/suffix rules: only the comparison with the models sees them.
    _fails(
        "naming_drift",
        "naming",
        "NamingConventionError",
        "primary key on orders(id) is named orders_pkey in the database; "
        "the models name it pk_orders",
        "is named fk_orders_customer in the database; "
        "the models name it fk_orders_customer_id_customers",
    ),
    # Index orders_code_index and FK orders_customer break the models' convention, but the
    # models name them so themselves (as the migration does): the models' decision, two
    # warnings and a pass. With naming_rules (rules mode) both fail, as they did in
    # alembic-gauntlet (tests/test_checks_naming_models.py).
    _clean("naming_bad"),
    # No convention; explicit names no rule expects (orders_pk, orders_state,
    # gin_orders_code, chk_orders_total, an expression index): the models' own names pass.
    _clean("naming_explicit"),
    # Convention-made names over 63 characters (CHECK, FK, unique, index): the database has
    # them cut as SQLAlchemy cuts them, which is what both naming checks compare.
    _clean("naming_long"),
    # Tables env.py hides (include_name: legacy_*, include_object: archive_*) with names
    # that differ from the models or break the rules: judged by no check.
    _clean("naming_hidden"),
    # j1000002's downgrade leaves the function normalize_email(text) and the default of
    # customers.country changed ('US' -> 'NL'). Re-upgrading works (CREATE OR REPLACE,
    # SET DEFAULT) and autogenerate compares neither (compare_server_default is off).
    _fails(
        "no_trace",
        "no_trace",
        "DowngradeLeftTraceError",
        "j1000002",
        "normalize_email",
        "country",
        revision="j1000002",
    ),
    # k1000001 -> k1000002 (catalog), k1000003 (sales) -> merge k1000004 -> k1000005.
    _clean("branched"),
    # No revisions, empty metadata. Nothing to walk: stairway, downgrade_to_base and
    # no_trace are skipped; upgrade to heads is a no-op that succeeds; the models checks
    # compare empty metadata with an empty schema.
    Expectation(
        "empty",
        _statuses(
            stairway="skipped", downgrade_to_base="skipped", no_trace="skipped", safety="skipped"
        ),
        failing_check=None,
        error_class=None,
        revision=None,
        message_contains=(),
    ),
    # m1000001..m1000002 through the unmodified `alembic init` env.py (sqlalchemy.url only,
    # target_metadata None, fileConfig logging).
    _clean("stock_env"),
    # n1000001..n1000002 through the alembic-gauntlet style env.py (connection +
    # target_schema from config.attributes, version table in target_schema).
    _clean("seed_env"),
    # p1000002 creates legacy_audit, which models.py lacks; models_match passes only when
    # the comparison goes through env.py, whose include_object hides legacy_* tables.
    _clean("filtered_env"),
    # q1000002's downgrade raises NotImplementedError("irreversible: ..."): the stairway
    # and downgrade_to_base stop there; no_trace needs those downgrades, so it errors.
    _fails(
        "not_implemented",
        "stairway",
        "StairwayError",
        "q1000002",
        "irreversible",
        revision="q1000002",
        downgrade_to_base="failed",
        no_trace="error",
        safety="error",  # the walk stops before q1000003's upgrade: not observed
    ),
    # ... and with downgrades not going below q1000002, everything passes.
    _clean("not_implemented", minimum_downgrade_revision="q1000002"),
    # r1000002 creates public.leak (schema-qualified on purpose). The isolated schema
    # itself is fine, so the nine checks pass; the escape is a separate finding. The
    # revision is not required in the message: an escape may be found after the walk.
    Expectation(
        "escape",
        _statuses(isolation="failed"),
        failing_check="isolation",
        error_class="IsolationEscapeError",
        revision=None,
        message_contains=("public.leak",),
    ),
    # s1000002 adds orders.total NOT NULL without a server default: passes on an empty
    # table. Tests add revision data (rows in orders before s1000002) to make it fail.
    _clean("revision_data"),
    # u1000002 adds an enum value; its downgrade mentions that value, which PostgreSQL
    # allows only after the adding transaction committed. Passes when every stairway step
    # commits, as separate alembic commands do.
    _clean("enum_add_value"),
    # t1000002 upper-cases order statuses (tests/test_isolated.py drives it by hand).
    _clean("data_migration"),
]
