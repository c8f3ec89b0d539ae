"""DSN parsing, masking and redaction: every accepted form, garbage, and no password leaks."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url

from gauntlet_sync.dsn import DRIVERNAME, _params_of_url, mask, redact, to_url
from gauntlet_sync.errors import DsnError


def conninfo(url: str | URL) -> str:
    """A libpq conninfo string built field by field from ``to_url``'s URL (the library
    itself hands URLs to SQLAlchemy; this shows they carry every libpq parameter)."""
    return psycopg.conninfo.make_conninfo("", **_params_of_url(to_url(url)))


SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://alice:{SECRET}@db.example:6543/app?sslmode=require",
        f"postgres://alice:{SECRET}@db.example:6543/app?sslmode=require",
        f"postgresql+psycopg://alice:{SECRET}@db.example:6543/app?sslmode=require",
        f"postgresql+psycopg2://alice:{SECRET}@db.example:6543/app?sslmode=require",
        f"host=db.example port=6543 user=alice password={SECRET} dbname=app sslmode=require",
        f"  dbname=app host=db.example   port=6543 password='{SECRET}' user=alice sslmode=require ",
        make_url(f"postgresql+psycopg2://alice:{SECRET}@db.example:6543/app?sslmode=require"),
        URL.create(
            "postgresql",
            username="alice",
            password=SECRET,
            host="db.example",
            port=6543,
            database="app",
            query={"sslmode": "require"},
        ),
    ],
    ids=[
        "postgresql",
        "postgres",
        "psycopg",
        "psycopg2",
        "keyvalue",
        "keyvalue-quoted",
        "url-object-psycopg2",
        "url-object",
    ],
)
def test_every_accepted_form_gives_the_same_psycopg_url(dsn: str | URL) -> None:
    url = to_url(dsn)
    assert url.drivername == DRIVERNAME
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "alice",
        SECRET,
        "db.example",
        6543,
        "app",
    )
    assert dict(url.query) == {"sslmode": "require"}


def test_unix_socket_dir_and_port_survive_in_the_query() -> None:
    url = to_url("postgresql://postgres@/test?host=/tmp/some%20dir/sock&port=5433")
    assert url.host is None
    assert url.query["host"] == "/tmp/some dir/sock"
    assert url.query["port"] == "5433"
    assert conninfo_to_dict(conninfo(url)) == {
        "host": "/tmp/some dir/sock",
        "port": "5433",
        "user": "postgres",
        "dbname": "test",
    }


def test_keyvalue_socket_dir() -> None:
    url = to_url("host=/var/run/postgresql dbname=app")
    assert url.query["host"] == "/var/run/postgresql"
    assert url.database == "app"


def test_multi_host_is_kept_for_libpq() -> None:
    url = to_url("postgresql://u@h1:5432,h2:5433/app")
    assert conninfo_to_dict(conninfo(url))["host"] == "h1,h2"
    assert conninfo_to_dict(conninfo(url))["port"] == "5432,5433"


def test_percent_encoded_and_special_passwords_round_trip() -> None:
    password = "p@ss:w/rd with space&%"
    url = to_url(URL.create("postgresql", username="u", password=password, host="h"))
    assert url.password == password
    assert conninfo_to_dict(conninfo(url))["password"] == password
    assert to_url(url) == url
    assert to_url(conninfo(url)) == url
    encoded = "p%40ss%3Aw%2Frd%20with%20space%26%25"
    assert to_url(f"postgres://u:{encoded}@h/").password == password


def test_other_libpq_parameters_become_query() -> None:
    url = to_url("host=h dbname=d application_name=gauntlet connect_timeout=5")
    assert dict(url.query) == {"application_name": "gauntlet", "connect_timeout": "5"}
    assert "application_name=gauntlet" in conninfo(url)


def test_conninfo_is_accepted_by_psycopg() -> None:
    info = conninfo(to_url(f"postgresql+psycopg://alice:{SECRET}@h:1/app"))
    assert conninfo_to_dict(info) == {
        "host": "h",
        "port": "1",
        "user": "alice",
        "password": SECRET,
        "dbname": "app",
    }
    assert psycopg.conninfo.make_conninfo(info)  # well formed


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        f"mysql://root:{SECRET}@localhost/db",
        "sqlite:///app.db",
        f"postgresql+asyncpg://u:{SECRET}@h/db",
        "not a dsn",
        f"password={SECRET} nonsense",
        f"foo=bar password={SECRET}",
        f"postgresql://u:{SECRET}@h:notaport/db",
        f"postgresql://u:{SECRET} with space@h/db",
        f"postgresql://u:{SECRET}@h/db?bogus_option=1",
        URL.create("mysql", username="u", password=SECRET, host="h"),
    ],
)
def test_garbage_raises_dsn_error_that_says_what_is_accepted(garbage: str | URL) -> None:
    with pytest.raises(DsnError) as caught:
        to_url(garbage)
    message = str(caught.value)
    assert "postgresql://" in message and "key=value" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://alice:{SECRET}@h:5432/app",
        f"postgresql+psycopg2://alice:{SECRET}@h/app?sslmode=require",
        f"postgresql://alice@h/app?password={SECRET}&sslmode=require",
        f"host=h password={SECRET} dbname=app",
        f"host=h password = '{SECRET} with space' dbname=app",
        f"PASSWORD={SECRET}",
        make_url(f"postgresql://alice:{SECRET}@h/app"),
        f"garbage://x:{SECRET}@",
        f"total garbage password={SECRET}",
        f"postgresql://alice:{SECRET}@with@at@h/app",
    ],
)
def test_mask_never_shows_the_password(dsn: str | URL) -> None:
    masked = mask(dsn)
    assert SECRET not in masked
    assert "***" in masked


def test_mask_keeps_everything_else() -> None:
    assert mask(f"postgresql://alice:{SECRET}@h:5432/app") == "postgresql://alice:***@h:5432/app"
    assert mask(f"host=h password={SECRET} dbname=app") == "host=h password=*** dbname=app"
    assert mask("postgresql://alice@h/app") == "postgresql://alice@h/app"
    assert mask("") == ""


@pytest.mark.parametrize("weird", ["", "=", "://", "password=", "a:b@c", "\x00", "p" * 10_000])
def test_mask_does_not_crash_on_anything(weird: str) -> None:
    assert isinstance(mask(weird), str)


def test_redact_removes_passwords_and_url_passwords_from_text() -> None:
    url = make_url("postgresql://u:other%40pw@h/d")
    text = (
        f'FATAL: password authentication failed for "u" ({SECRET}); '
        "tried postgresql://u:other%40pw@h/d and other@pw"
    )
    redacted = redact(text, SECRET, url, None, "")
    assert SECRET not in redacted
    assert "other@pw" not in redacted and "other%40pw" not in redacted
    assert "FATAL: password authentication failed" in redacted


def test_redact_without_secrets_still_masks_credentials() -> None:
    assert SECRET not in redact(f"could not connect to postgresql://u:{SECRET}@h/d")
    assert redact("nothing to hide") == "nothing to hide"
