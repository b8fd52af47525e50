"""Connection strings: parsing URLs and DSNs, masking passwords, readable connection errors.

Passwords never appear in a connector's ``repr`` or in the errors it raises: every message a
``db:*`` connector builds goes through :meth:`Masker.mask`, which knows the config password, the
password inside a URL (raw and percent-decoded) and a ``password=`` DSN entry. The same secrets are
registered with the run's redactor (when the run context offers one), so logs and events hide
them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

MASK = "***"
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_REASONS = (
    ("connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout expired", "timed out"),
    ("name or service not known", "unknown host"),
    ("could not translate host name", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("temporary failure in name resolution", "unknown host"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network is unreachable"),
)


@dataclass(frozen=True)
class UrlParts:
    """The parts of a ``scheme[+driver]://user:password@host:port/database?query`` URL.

    Attributes:
        scheme: The scheme without the ``+driver`` suffix (``postgresql``, ``mysql``).
        driver: The ``+driver`` suffix (``psycopg2``, ``pymysql``), or "".
        user: User name (percent-decoded), or None.
        password: Password (percent-decoded), or None.
        host: Host name, or None.
        port: Port, or None.
        database: The path without its leading ``/`` (percent-decoded), or "".
        query: The raw query string.
    """

    scheme: str
    driver: str
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str
    query: str


def parse_url(url: str) -> UrlParts:
    """Split a database URL into its parts.

    Raises:
        ValueError: The URL has no ``scheme://`` or an invalid port.
    """
    if "://" not in url:
        raise ValueError("expected a URL of the form scheme://user:password@host:port/database")
    split = urlsplit(url)
    scheme, _, driver = split.scheme.partition("+")
    return UrlParts(
        scheme=scheme.lower(),
        driver=driver,
        user=unquote(split.username) if split.username else None,
        password=unquote(split.password) if split.password is not None else None,
        host=split.hostname,
        port=split.port,
        database=unquote(split.path[1:]) if split.path.startswith("/") else unquote(split.path),
        query=split.query,
    )


def strip_driver(url: str) -> str:
    """``postgresql+psycopg2://...`` → ``postgresql://...`` (a URL without ``+driver`` as is)."""
    head, sep, tail = url.partition("://")
    if not sep:
        return url
    return head.partition("+")[0] + sep + tail


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        split = urlsplit(url)
        password = split.password
    except ValueError:
        return _DSN_PASSWORD.sub(rf"\1{MASK}", url)
    if password is None:
        return url
    userinfo, _, hostinfo = split.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    masked = SplitResult(split.scheme, f"{user}:{MASK}@{hostinfo}", *split[2:])
    return masked.geturl()


def mask_dsn(dsn: str) -> str:
    """A URL or ``key=value`` DSN with its password replaced by ``***``."""
    if "://" in dsn:
        return mask_url(dsn)
    return _DSN_PASSWORD.sub(rf"\1{MASK}", dsn)


def dsn_password(dsn: str) -> str | None:
    """The password of a URL or ``key=value`` DSN, if it has one."""
    if "://" in dsn:
        try:
            return parse_url(dsn).password
        except ValueError:
            return None
    match = _DSN_PASSWORD.search(dsn)
    if match is None:
        return None
    value = match.group(2)
    if value.startswith("'") and value.endswith("'"):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


class Masker:
    """Replaces a connector's secrets by ``***`` in the text it puts into messages."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` (and its percent-encoded form); empty values are ignored."""
        if not secret:
            return
        for form in (secret, quote(secret, safe="")):
            if form and form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The remembered secrets, longest first."""
        return tuple(self._secrets)

    def mask(self, text: str) -> str:
        """``text`` with every remembered secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _DSN_PASSWORD.sub(rf"\1{MASK}", text)


def config_secrets(config: Mapping[str, Any]) -> list[str]:
    """Passwords in a connector config: ``password``, and those inside ``url``/``dsn``."""
    found: list[str] = []
    password = config.get("password")
    if isinstance(password, str) and password:
        found.append(password)
    for key in ("url", "dsn"):
        value = config.get(key)
        if isinstance(value, str):
            embedded = dsn_password(value)
            if embedded:
                found.append(embedded)
    return found


def register_with_run(ctx: Any, secrets: Iterable[str]) -> None:
    """Register ``secrets`` with the run's redactor, when ``ctx`` belongs to a run.

    The runner already registers secret-named config fields (``password``); this adds passwords
    embedded in URLs and DSNs, which the runner cannot recognise by name.
    """
    services = getattr(ctx, "services", None)
    add = getattr(services, "add_secret", None)
    if add is None:
        redactor = getattr(getattr(services, "rs", None), "redactor", None)
        add = getattr(redactor, "add", None)
    if not callable(add):
        return
    for secret in secrets:
        add(secret)


def connect_reason(message: str) -> str:
    """A short reason for a failed connection (``connection refused``), else the message's
    first line without the driver's ``connection failed:`` prefix."""
    lowered = message.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return re.sub(r"^(connection failed:\s*)", "", first, flags=re.IGNORECASE)


def driver_message(exc: BaseException) -> str:
    """The driver's own text of ``exc`` (SQLAlchemy's wrapped ``orig`` when present), stripped."""
    orig = getattr(exc, "orig", None)
    error = orig if isinstance(orig, BaseException) else exc
    args = error.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{args[1]} (error {args[0]})"  # PyMySQL's (code, message)
    return str(error).strip() or type(error).__name__
