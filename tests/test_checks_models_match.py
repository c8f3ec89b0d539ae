"""Rendering autogenerate's differences, and leaving out ignored tables: no server needed."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table

from gauntlet_sync.checks.models_match import (
    is_ignored_diff_item,
    models_match_error,
    render_diff,
)


def _tables() -> tuple[Table, Table]:
    metadata = MetaData()
    customers = Table("customers", metadata, Column("id", Integer, primary_key=True))
    orders = Table(
        "orders",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", Integer, ForeignKey("customers.id", name="fk_orders_customer")),
        Column("note", String(20)),
    )
    return customers, orders


def test_each_difference_reads_as_the_migration_that_would_fix_it() -> None:
    customers, orders = _tables()
    index = Index("ix_orders_note", orders.c.note, unique=True)
    (fk,) = orders.foreign_key_constraints
    items = [
        ("add_table", customers),
        ("add_column", None, "orders", orders.c.note),
        ("remove_index", index),
        ("add_fk", fk),
        ("modify_nullable", None, "orders", "note", {}, True, False),
        ("modify_type", None, "orders", "note", {}, Integer(), String(20)),
    ]
    assert [line for item in items for line in render_diff(item)] == [
        "add table customers",
        "add column orders.note VARCHAR(20)",
        "remove unique index ix_orders_note on orders (note)",
        "add foreign key fk_orders_customer on orders (customer_id) -> customers",
        "modify nullable of orders.note: database NULL, models NOT NULL",
        "modify type of orders.note: database INTEGER, models VARCHAR(20)",
    ]


def test_ignored_tables_and_alembic_version_are_left_out() -> None:
    customers, orders = _tables()
    assert is_ignored_diff_item(("add_table", customers), {"customers"})
    assert not is_ignored_diff_item(("add_table", orders), {"customers"})
    version = Table("alembic_version", MetaData(), Column("version_num", String(32)))
    assert is_ignored_diff_item(("remove_table", version), ())
    assert models_match_error([("add_table", customers)], {"customers"}) is None
    error = models_match_error([("add_table", orders)], ())
    assert error is not None and error.problems == ("add table orders",)


def test_the_differences_are_listed_in_one_order_whatever_alembics_order() -> None:
    """alembic lists tables to remove in a set's order, which changes with the hash seed
    from run to run: a report compared between CI runs must not."""
    diffs = [("remove_table", Table(name, MetaData())) for name in ("b", "c", "a", "d")]
    first = models_match_error(diffs, ())
    second = models_match_error(list(reversed(diffs)), ())
    assert first is not None and second is not None
    assert str(first) == str(second)
    assert list(first.problems) == sorted(first.problems)
