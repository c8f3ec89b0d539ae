"""The naming and CHECK-constraint checks judged against the models (issue 14), on real
PostgreSQL: the models' rendered, truncated names; explicit names as the models' decision
(warnings, not failures); env.py's filters; and the rules mode (alembic-gauntlet's lint)
when rules are given.
"""

from __future__ import annotations

import io
import itertools
import json
import unittest
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
)
from sqlalchemy.dialects import postgresql

from gauntlet_sync import (
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    GauntletWarning,
    NamingConventionError,
    NamingRule,
    Report,
)
from gauntlet_sync.checks import naming
from gauntlet_sync.checks.check_constraints import check_constraints_error
from gauntlet_sync.testcase import GauntletMixin
from tests.histories import catalog
from tests.reliability import leftovers

BAD_WARNINGS = [
    "foreign key orders_customer on orders(customer_id) -> customers(id) is named explicitly "
    "in the models; their naming_convention would name it fk_orders_customer_id_customers",
    "index orders_code_index on orders(code) is named explicitly in the models; their "
    "naming_convention would name it ix_orders_code",
]
MODELS_CHECKS = ["upgrade", "models_match", "check_constraints", "naming"]


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    yield
    assert leftovers(EmbeddedPostgres.shared()) == []


def _config(history: str, **extra: Any) -> GauntletConfig:
    return GauntletConfig(
        alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history), **extra
    )


def _report(history: str, checks: list[str] = MODELS_CHECKS, **extra: Any) -> Report:
    with Gauntlet(None, _config(history, **extra)) as gauntlet:
        return gauntlet.run_all(checks, raise_on_failure=False)


def _statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


# --- the models mode -----------------------------------------------------------------------


def test_explicit_names_following_no_convention_pass() -> None:
    """orders_pk, orders_state, gin_orders_code, an expression index and chk_orders_total:
    the old prefix rules failed all but the last two; the models name them so."""
    report = _report("naming_explicit")
    assert set(_statuses(report).values()) == {"passed"}, str(report)
    assert report.get("naming").warnings == ()  # no convention: nothing to break


def test_a_database_name_differing_from_the_models_fails_with_both_names() -> None:
    report = _report("naming_drift")
    assert _statuses(report) == {
        "upgrade": "passed",
        "models_match": "passed",  # autogenerate compares neither PK nor FK names
        "check_constraints": "passed",
        "naming": "failed",
    }
    error = report.get("naming").error
    assert isinstance(error, NamingConventionError)
    assert list(error.problems) == [
        "foreign key on orders(customer_id) -> customers(id) is named fk_orders_customer in "
        "the database; the models name it fk_orders_customer_id_customers",
        "primary key on orders(id) is named orders_pkey in the database; the models name it "
        "pk_orders",
    ]


def test_names_longer_than_63_characters_pass_in_both_checks() -> None:
    report = _report("naming_long")
    assert set(_statuses(report).values()) == {"passed"}, str(report)
    with Gauntlet(None, _config("naming_long")) as gauntlet, gauntlet.isolated() as db:
        db.upgrade()
        names = {row[0] for row in db.fetch("SELECT conname::text FROM pg_constraint")}
    # What the database really holds: cut by SQLAlchemy, not the names in the models.
    assert "ck_subscription_plan_entitlements_quantity_must_be_posi_41ac" in names
    assert "fk_subscription_plan_entitlements_subscription_plan_ref_6c2c" in names
    metadata = catalog.load_metadata("naming_long")
    check = next(
        c
        for c in metadata.tables["subscription_plan_entitlements"].constraints
        if isinstance(c, CheckConstraint)
    )
    assert len(str(check.name)) > 63


def test_tables_hidden_by_env_py_filters_are_not_judged() -> None:
    """include_name hides legacy_log, include_object archive_events: all three models
    checks pass; through a filterless env.py the same schema fails all three."""
    report = _report("naming_hidden")
    assert set(_statuses(report).values()) == {"passed"}, str(report)

    cookbook = str(catalog.HISTORIES / "_envs" / "cookbook")
    report = _report("naming_hidden", script_location=cookbook)
    assert _statuses(report) == {
        "upgrade": "passed",
        "models_match": "failed",
        "check_constraints": "failed",
        "naming": "failed",
    }
    naming_problems = "\n".join(report.get("naming").error.problems)  # type: ignore[union-attr]
    for name in ("LegacyLogLevel", "legacy_log_primary", "archive_events_by_kind"):
        assert name in naming_problems
    assert "archive_kind_check" in report.get("check_constraints").message


def test_ignore_tables_leaves_a_table_out_of_both_checks() -> None:
    cookbook = str(catalog.HISTORIES / "_envs" / "cookbook")
    report = _report(
        "naming_hidden",
        ["upgrade", "check_constraints", "naming"],
        script_location=cookbook,
        ignore_tables=["legacy_log", "archive_events"],
    )
    assert set(_statuses(report).values()) == {"passed"}, str(report)


def test_explicit_names_breaking_the_convention_are_warnings_in_every_rendering() -> None:
    report = _report("naming_bad")
    result = report.get("naming")
    assert result.status == "passed" and report.ok
    assert list(result.warnings) == BAD_WARNINGS
    text = str(report)
    assert "[warning] naming" in text and BAD_WARNINGS[1] in text
    data = json.loads(report.to_json())
    assert next(r for r in data["results"] if r["name"] == "naming")["warnings"] == BAD_WARNINGS
    assert next(r for r in data["results"] if r["name"] == "upgrade")["warnings"] == []
    case = next(
        c
        for c in ET.fromstring(report.to_junit_xml()).iter("testcase")
        if c.get("name") == "naming"
    )
    system_out = case.find("system-out")
    assert system_out is not None and BAD_WARNINGS[0] in (system_out.text or "")
    assert case.find("failure") is None


def test_check_naming_alone_returns_the_warnings() -> None:
    with Gauntlet(None, _config("naming_bad")) as gauntlet:
        assert gauntlet.check_naming() == BAD_WARNINGS


def test_the_mixin_issues_the_warnings_and_passes(dsn: str) -> None:
    class Bad(GauntletMixin, unittest.TestCase):
        gauntlet_config = _config("naming_bad")
        gauntlet_dsn = dsn
        gauntlet_share_run = False

    suite = unittest.TestSuite([Bad("test_naming_conventions")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    assert result.wasSuccessful()
    found = [str(w.message) for w in caught if issubclass(w.category, GauntletWarning)]
    assert found == [f"naming: {w}" for w in BAD_WARNINGS]


@pytest.fixture(scope="module")
def dsn() -> str:
    return EmbeddedPostgres.shared().dsn


def test_objects_are_matched_by_expression_and_the_difference_reported() -> None:
    """A CHECK and an expression index whose names differ, found by what they compute."""
    metadata = MetaData(naming_convention={"ck": "ck_%(table_name)s_%(constraint_name)s"})
    items = Table(
        "items",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("email", String(100)),
        Column("qty", Integer),
        CheckConstraint("qty >= 0", name="qty_nonneg"),
    )
    Index("ix_items_email_lower", func.lower(items.c.email), unique=True)
    with Gauntlet(None, _config("empty")) as gauntlet, gauntlet.isolated() as db:
        db.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, email varchar(100), "
            "qty integer CONSTRAINT items_qty_check CHECK (qty >= 0))"
        )
        db.execute("CREATE UNIQUE INDEX items_lower_email_idx ON items (lower(email))")
        found = naming.naming_findings(db.connection, db.schema, metadata, None, naming.Scope())
    assert found.problems == [
        "check constraint on items (qty >= 0) is named items_qty_check in the database; the "
        "models name it ck_items_qty_nonneg",
        "unique index on items(lower(email::text)) is named items_lower_email_idx in the "
        "database; the models name it ix_items_email_lower",
    ]


def test_objects_the_models_do_not_declare_are_judged_by_the_lenient_defaults() -> None:
    """What alembic-gauntlet 0.3.1's defaults accept, and PostgreSQL's own names, pass."""
    rules = naming.rules_for(None)
    accepted = {
        "ix": ["idx_orders_code", "uq_orders_code", "orders_code_idx", "ix_orders_code"],
        "fk": ["fk_orders_customer", "orders_customer_id_fkey", "orders_customer_id_fkey1"],
        "ck": ["chk_orders_total", "ck_orders_total", "orders_total_check"],
        "uq": ["uq_orders_code", "orders_code_key"],
        "pk": ["pk_orders", "orders_pkey", "orders_pkey1"],
    }
    for kind, names in accepted.items():
        rule = rules[kind]
        assert rule is not None
        for name in names:
            assert rule.allows(name), (kind, name)
    assert not rules["ix"].allows("orders_code_index")  # type: ignore[union-attr]


def test_a_native_enum_check_is_not_expected_in_postgresql() -> None:
    """Enum(create_constraint=True) is native on PostgreSQL: SQLAlchemy emits no CHECK."""
    metadata = MetaData()
    table = Table(
        "t",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("status", Enum("a", "b", name="status", create_constraint=True)),
        Column("kind", Enum("x", "y", name="kind", native_enum=False, create_constraint=True)),
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    checks = naming.table_checks(table, dialect)
    assert len(checks) == 1 and "kind IN" in str(checks[0].sqltext)


def test_check_constraints_read_env_py_scope_and_cut_names() -> None:
    """The CHECK check with an explicit Scope: a hidden table is not compared."""
    metadata = catalog.load_metadata("naming_hidden")
    with Gauntlet(None, _config("naming_hidden")) as gauntlet, gauntlet.isolated() as db:
        db.upgrade()
        hidden = naming.Scope({"archive_events"})
        assert check_constraints_error(db.connection, db.schema, metadata, hidden) is None
        error = check_constraints_error(db.connection, db.schema, metadata, naming.Scope())
    assert error is not None and "archive_kind_check" in str(error)


# --- the rules mode (alembic-gauntlet's lint) -----------------------------------------------

LINT_RULES = {"ix": NamingRule(prefixes=("ix_",)), "fk": NamingRule(prefixes=("fk_",))}


def test_explicit_rules_still_lint_as_before() -> None:
    report = _report("naming_bad", naming_rules=LINT_RULES)
    result = report.get("naming")
    assert result.status == "failed"
    assert isinstance(result.error, NamingConventionError)
    assert "break the naming convention" in result.message
    assert list(result.error.problems) == [
        "foreign key orders_customer on table orders: expected prefix 'fk_' "
        "(configured naming rule)",
        "index orders_code_index on table orders: expected prefix 'ix_' (configured naming rule)",
    ]
    assert result.warnings == ()


def test_the_mixins_allowed_attributes_lint(dsn: str) -> None:
    class Seeded(GauntletMixin, unittest.TestCase):
        gauntlet_config = _config("naming_bad")
        gauntlet_dsn = dsn
        gauntlet_share_run = False
        allowed_index_prefixes: ClassVar[list[str]] = ["ix_"]
        allowed_index_suffixes: ClassVar[list[str]] = []

    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.TestSuite([Seeded("test_naming_conventions")])
    )
    assert len(result.failures) == 1
    assert "orders_code_index" in result.failures[0][1]


def test_chk_check_names_pass_with_no_convention_in_the_rules_mode() -> None:
    """With rules for indexes only, CHECKs fall back to the defaults: chk_ passes."""
    rules = {"ix": NamingRule(prefixes=("orders_", "gin_", "uq_"))}
    report = _report("naming_explicit", ["upgrade", "naming"], naming_rules=rules)
    result = report.get("naming")
    assert result.status == "failed"  # orders_pk fits no default primary key rule
    assert result.error is not None
    assert list(result.error.problems) == [
        "primary key orders_pk on table orders: expected prefix 'pk_' or suffix '_pkey' "
        "(built-in default)"
    ]


def test_expressions_are_compared_as_both_sides_spell_them() -> None:
    assert naming.normalized("(total >= (0)::numeric)") == naming.normalized("total >= 0")
    assert naming.normalized("lower((email)::text)") == naming.normalized("lower(email)")
    assert naming.normalized("created_at DESC NULLS LAST") == naming.normalized("created_at")
    assert naming.normalized("(ts)::timestamp without time zone") == "ts"
    assert naming.normalized("total > 0") != naming.normalized("total >= 0")


def test_an_env_filter_that_fails_on_the_stand_in_leaves_the_object_in() -> None:
    class Filters:
        def run_name_filters(self, name: str, type_: str, parents: dict[str, Any]) -> bool:
            return True

        def run_object_filters(self, obj: Any, name: str, type_: str, *rest: Any) -> bool:
            if type_ == "index":
                return bool(obj.columns)  # a reflected index has columns, the stand-in none
            return not obj.c.flag  # no such column on a stand-in table

    scope = naming.Scope(filters=Filters())
    assert scope.table("orders", None)
    assert scope.item("ix", "ix_orders_code", "orders", None, True) is False
    assert scope.item("ck", "ck_orders_total", "orders", None, True)  # no alembic type


def test_the_cli_shows_the_warnings_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from gauntlet_sync.cli import main

    args = ["-c", catalog.ini("naming_bad"), "--only", "naming"]
    args += ["--metadata", "tests.histories.naming_bad.models:Base.metadata"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["status"] == "passed" and result["warnings"] == BAD_WARNINGS
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "[warning] naming" in captured.out + captured.err
    assert BAD_WARNINGS[1] in captured.out + captured.err


def test_a_plain_explicit_name_over_63_characters_is_cut_as_op_f_cuts_it() -> None:
    """The models' DDL refuses such a name; a migration can only hold it in op.f()."""
    from sqlalchemy.schema import conv

    long_name = "ck_" + "x" * 70
    table = Table("t", MetaData(), Column("q", Integer), CheckConstraint("q > 0", name=long_name))
    check = next(c for c in table.constraints if isinstance(c, CheckConstraint))
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    expected = dialect.identifier_preparer.truncate_and_render_constraint_name(
        conv(long_name), _alembic_quote=False
    )
    assert naming.sqla_name(check, table, dialect) == expected
    assert len(expected) <= 63 and expected != long_name[:63]


def test_a_unique_index_the_models_do_not_declare_may_follow_the_uq_convention() -> None:
    """prefect 3.9.1: op.create_index("uq_...", unique=True) named by the "uq" convention."""
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s__%(column_0_N_name)s",
            "uq": "uq_%(table_name)s__%(column_0_N_name)s",
        }
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    unique = naming.DbObject("ix", "t", "uq_t__a__b", ("a", "b"), unique=True)
    plain = naming.DbObject("ix", "t", "uq_t__c", ("c",), unique=False)
    found = naming.judge_models([unique, plain], metadata, dialect, naming.Scope())
    assert len(found.problems) == 1 and "uq_t__c" in found.problems[0]
    heading = str(naming.naming_violations(found.problems, models=True))
    assert heading.startswith(
        "1 name in the database differs from the models (or, where the "
        "models declare none, breaks the naming rules)"
    )


def test_the_warnings_come_in_one_order_whatever_the_order_of_a_tables_indexes() -> None:
    """A Table's indexes are a set: their order (and the warnings') changed from run to
    run, as two runs of airflow's history showed."""
    found = []
    for names in itertools.permutations(["a_by_hand", "b_by_hand", "c_by_hand", "d_by_hand"]):
        metadata = MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_name)s"})
        table = Table(
            "t",
            metadata,
            Column("id", Integer, primary_key=True),
            *(Column(f"col_{name[0]}", Integer) for name in names),
        )
        for name in names:
            Index(name, table.c[f"col_{name[0]}"])
        findings = naming.judge_models([], metadata, postgresql.dialect(), naming.Scope())
        found.append(findings.warnings)
    assert len(found[0]) == 4
    assert all(warnings == found[0] for warnings in found)


def test_an_unnamed_native_enum_in_the_models_is_an_error_naming_the_column() -> None:
    # ironic-inspector's models (real corpus): comparing an existing column's type with an
    # Enum without a name raises SQLAlchemy's bare CompileError ("PostgreSQL Enum type
    # requires a name."), alembic check too, without saying which column
    models = MetaData()
    for table in catalog.load_metadata("clean").sorted_tables:
        table.to_metadata(models)
    models.tables["orders"].c.code.type = Enum("a", "b")
    with Gauntlet(None, GauntletConfig(alembic_ini=catalog.ini("clean"), metadata=models)) as g:
        report = g.run_all(["upgrade", "models_match", "naming"], raise_on_failure=False)
    assert _statuses(report) == {"upgrade": "passed", "models_match": "error", "naming": "passed"}
    reason = report.get("models_match").reason
    assert "orders.code is a native Enum without a name" in reason
    assert "name='orders_code'" in reason and "native_enum=False" in reason
