"""Naming rules from a convention, the defaults and the config: no server needed."""

from __future__ import annotations

from sqlalchemy import MetaData

from gauntlet_sync import NamingRule
from gauntlet_sync.checks.naming import NamedObject, problems, rules_for


def test_rules_come_from_the_conventions_literal_text() -> None:
    metadata = MetaData(naming_convention={"fk": "fk_%(table_name)s_%(column_0_name)s"})
    rules = rules_for(metadata)
    fk = rules["fk"]
    assert fk is not None and fk.allows("fk_orders_customer") and not fk.allows("orders_fk")
    ix = rules["ix"]  # not in the convention: the built-in default
    assert ix is not None and ix.allows("ix_orders_code") and ix.allows("orders_code_idx")


def test_configured_rules_win_and_every_violation_is_listed() -> None:
    rules = rules_for(None, {"ix": NamingRule(prefixes=("idx_",))})
    found = problems(
        [
            NamedObject("ix", "orders", "orders_code_index"),
            NamedObject("ix", "orders", "idx_orders_total"),
            NamedObject("ix", "customers", "customers_name_index"),
        ],
        rules,
    )
    assert len(found) == 2
    assert all("configured naming rule" in line for line in found)
    assert "orders_code_index on table orders" in found[0]
