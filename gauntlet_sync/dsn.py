"""The one place that reads connection strings, so every part agrees on what a DSN means.

Parsing is delegated to libpq (``psycopg.conninfo.conninfo_to_dict``): what it accepts is what
``psycopg.connect`` will accept later, percent-decoding, multi-host and socket dirs included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from gauntlet_sync.errors import DsnError

__all__ = ["DRIVERNAME", "mask", "redact", "to_url"]

DRIVERNAME = "postgresql+psycopg"

_MASK = "***"
_LONG_PASSWORD = 10
_ACCEPTED_SCHEMES = frozenset(
    {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"}
)
_ACCEPTED = (
    "accepted: libpq key=value strings (e.g. 'host=localhost dbname=app user=me') and URLs "
    "postgresql://, postgres://, postgresql+psycopg://, postgresql+psycopg2://"
)
_PORTS = re.compile(r"\d*(,\d*)*")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://")
# ``scheme://user:password@``: greedy up to the last ``@`` of the authority, as libpq reads it.
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/?#@\s]*:)(?P<pw>[^/?#]*)(?=@)")
# ``password=...`` in a URL query stops at ``&``; in key=value strings it may be quoted.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#\s]*)", re.IGNORECASE)
_KV_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE
)


def to_url(dsn: str | URL) -> URL:
    """Turn any accepted DSN into the ``postgresql+psycopg`` URL SQLAlchemy needs.

    Host names that libpq does not read as a single TCP host (socket dirs, ``a,b`` lists) are
    kept in the query, where SQLAlchemy's psycopg dialect passes them through unchanged.
    """
    if isinstance(dsn, URL):
        _check_scheme(dsn.drivername, dsn)
        return _url_from_params(_params_of_url(dsn), dsn)
    if not isinstance(dsn, str) or not dsn.strip():
        raise DsnError(f"empty connection string; {_ACCEPTED}")
    text = dsn.strip()
    scheme_match = _SCHEME.match(text)
    if scheme_match:
        _check_scheme(scheme_match.group(1), text)
        text = "postgresql://" + text[scheme_match.end() :]
    try:
        params = conninfo_to_dict(text)
    except psycopg.Error as exc:
        reason = redact(str(exc).strip(), *_password_candidates(dsn))
        raise DsnError(
            f"cannot parse connection string {mask(dsn)!r}: {reason}; {_ACCEPTED}"
        ) from None
    return _url_from_params({key: str(value) for key, value in params.items()}, dsn)


def mask(dsn: str | URL) -> str:
    """The DSN with its password replaced by ``***``; never fails, even on garbage."""
    if isinstance(dsn, URL):
        masked = dsn.render_as_string(hide_password=True)
        return _mask_text(masked)
    return _mask_text(str(dsn))


def redact(text: str, *secrets: str | URL | None) -> str:
    """Remove passwords from arbitrary text, such as a database error message.

    ``secrets`` are passwords, or URLs whose password is removed. Credentials that look like
    ``password=...`` or ``://user:pass@`` are masked as well, whoever wrote them.
    """
    passwords: set[str] = set()
    for secret in secrets:
        password = secret.password if isinstance(secret, URL) else secret
        if not password:
            continue
        # A password that equals a part the output shows anyway (postgres/postgres: the
        # user name, a host, a database) hides nothing when masked in free text, and
        # masking it there would mangle every message that names that part.
        if isinstance(secret, URL) and str(password) in _visible_parts(secret):
            continue
        passwords.add(str(password))
    for variant in sorted(_encoded_variants(passwords), key=len, reverse=True):
        text = _whole(variant).sub(_MASK, text)
    return _mask_text(text)


def _visible_parts(url: URL) -> set[str]:
    """What of a URL is printed in the open: everything but the password."""
    parts = {url.username, url.host, url.database, str(url.port) if url.port else None}
    for value in url.query.values():
        parts.update([value] if isinstance(value, str) else value)
    return {part for part in parts if part}


def _whole(word: str) -> re.Pattern[str]:
    """A short password where it stands on its own: ``post`` is masked in ``me:post@``
    but leaves ``postgresql`` alone (seeing that word tells nothing). A long one is masked
    wherever it appears: it is no part of any word by chance."""
    if len(word) >= _LONG_PASSWORD:
        return re.compile(re.escape(word))
    head = r"(?<![A-Za-z0-9])" if word[0].isalnum() else ""
    tail = r"(?![A-Za-z0-9])" if word[-1].isalnum() else ""
    return re.compile(head + re.escape(word) + tail)


def _check_scheme(scheme: str, original: str | URL) -> None:
    if scheme.lower() not in _ACCEPTED_SCHEMES:
        raise DsnError(f"unsupported connection string {mask(original)!r}; {_ACCEPTED}")


def _params_of_url(url: URL) -> dict[str, str]:
    """libpq parameters of a URL, read field by field (re-parsing a rendered URL is lossy)."""
    params: dict[str, str] = {}
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else ",".join(value)
    if url.host:
        params["host"] = url.host
    if url.port is not None:
        params["port"] = str(url.port)
    if url.username:
        params["user"] = url.username
    if url.password is not None:
        params["password"] = str(url.password)
    if url.database:
        params["dbname"] = url.database
    return params


def _url_from_params(params: dict[str, str], original: str | URL) -> URL:
    query = {
        key: value
        for key, value in params.items()
        if key not in {"host", "port", "user", "password", "dbname"} and value != ""
    }
    host = params.get("host") or None
    port_text = params.get("port") or None
    url_host: str | None = host
    url_port: int | None = None
    if port_text is not None and not _PORTS.fullmatch(port_text):
        raise DsnError(
            f"invalid port {port_text!r} in connection string {mask(original)!r}; {_ACCEPTED}"
        )
    if host is not None and (host.startswith("/") or "," in host or host.startswith("@")):
        url_host = None
        query["host"] = host
        if port_text is not None:
            query["port"] = port_text
    elif port_text is not None:
        if port_text.isdigit():
            url_port = int(port_text)
        else:
            query["port"] = port_text
    return URL.create(
        DRIVERNAME,
        username=params.get("user") or None,
        password=params.get("password") or None,
        host=url_host,
        port=url_port,
        database=params.get("dbname") or None,
        query=dict(sorted(query.items())),
    )


def _mask_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + _MASK, text)
    text = _QUERY_PASSWORD.sub(lambda m: m.group("head") + _MASK, text)
    if "://" in text:
        return text
    return _KV_PASSWORD.sub(lambda m: m.group("head") + _MASK, text)


def _password_candidates(text: str) -> list[str]:
    """Whatever in a (possibly broken) DSN could be a password, to scrub it from libpq errors."""
    found = [m.group("pw") for m in _URL_PASSWORD.finditer(text)]
    found += [m.group("pw") for m in _QUERY_PASSWORD.finditer(text)]
    found += [m.group("pw").strip("'") for m in _KV_PASSWORD.finditer(text)]
    return [candidate for candidate in found if candidate]


def _encoded_variants(passwords: Iterable[str]) -> set[str]:
    variants: set[str] = set()
    for password in passwords:
        variants.update({password, quote(password, safe=""), quote_plus(password, safe="")})
    return {variant for variant in variants if variant}
