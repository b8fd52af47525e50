"""Open a state store from a URL (``state.url`` / ``--state``).

Accepted forms:

* ``sqlite:///abs/path.db`` — an absolute path (three slashes: empty host, then the path);
* ``sqlite:relative/path.db`` — a path relative to the working directory;
* ``sqlite::memory:`` or ``sqlite:///:memory:`` — a private in-process SQLite database;
* a plain filesystem path (``state/aetherflow.db``) — SQLite;
* ``memory:`` — the in-memory store (nothing is persisted);
* ``postgresql://…`` / ``postgres://…`` — refused for now: PostgreSQL state arrives later.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args
from urllib.parse import urlsplit

from aetherflow.errors import StateError
from aetherflow.state.clock import Clock
from aetherflow.state.memory import MemoryStateStore
from aetherflow.state.sqlite import MEMORY_PATH, Durability, SqliteStateStore
from aetherflow.state.store import StateStore

MEMORY_URL = "memory:"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _scheme(url: str) -> str | None:
    """The URL scheme, or None for a plain path.

    Only known schemes count without ``//``, so a file named ``data:2024.db`` stays a path.
    """
    match = _SCHEME.match(url)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme in ("sqlite", "memory", *_POSTGRES_SCHEMES) or url[match.end() :].startswith("//"):
        return scheme
    return None


def sqlite_path(url: str) -> str:
    """The database path a ``sqlite:`` URL or plain path names.

    Args:
        url: ``sqlite:///abs.db``, ``sqlite:rel.db``, ``sqlite::memory:`` or a plain path.

    Returns:
        The path to hand to :class:`SqliteStateStore` (``:memory:`` stays as is).

    Raises:
        StateError: The URL has a host (``sqlite://host/x``) or no path.
    """
    if _scheme(url) != "sqlite":
        path = url
    else:
        rest = url[len("sqlite:") :]
        if rest.startswith("//"):
            if not rest.startswith("///"):
                raise StateError(
                    f"state URL {url!r} names a host; SQLite URLs are sqlite:///abs/path.db "
                    "or sqlite:relative/path.db"
                )
            rest = rest[2:]
            if rest == "/" + MEMORY_PATH:
                rest = MEMORY_PATH
        path = rest
    if not path:
        raise StateError(f"state URL {url!r} names no database file")
    return path


def state_exists(url: str) -> bool:
    """True when the store at ``url`` may hold records (a SQLite file that exists, or a server).

    Lets read-only commands (``--plan``, ``runs``) avoid creating an empty database.
    """
    scheme = _scheme(url)
    if scheme in _POSTGRES_SCHEMES:
        return True
    if scheme == "memory":
        return False
    path = sqlite_path(url)
    return path != MEMORY_PATH and Path(path).exists()


def describe_url(url: str) -> str:
    """A human description of a state URL for messages, with any password hidden.

    Args:
        url: Any URL :func:`open_state_store` accepts (or rejects).

    Returns:
        For example ``SQLite database /var/lib/af/state.db`` or
        ``PostgreSQL postgresql://etl:***@db:5432/af``.
    """
    scheme = _scheme(url)
    if scheme == "memory":
        return "in-memory state (not persisted)"
    if scheme in _POSTGRES_SCHEMES:
        return f"PostgreSQL {_redact(url)}"
    if scheme not in (None, "sqlite"):
        return f"state URL {_redact(url)}"
    try:
        path = sqlite_path(url)
    except StateError:
        return f"state URL {url}"
    if path == MEMORY_PATH:
        return "in-process SQLite database (not persisted)"
    return f"SQLite database {path}"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{netloc[2]}").geturl()


def open_state_store(
    url: str, *, clock: Clock | None = None, durability: str = "normal"
) -> StateStore:
    """Open the state store a URL names.

    Args:
        url: See the module docstring for the accepted forms.
        clock: Time source for leases (default: the system clock).
        durability: ``normal`` or ``full`` (SQLite ``synchronous``; ignored by ``memory:``).

    Returns:
        An open store; the caller closes it.

    Raises:
        StateError: Unknown scheme or durability, PostgreSQL (not available yet), or the
            database could not be opened or migrated.
    """
    if durability not in get_args(Durability):
        raise StateError(f"unknown state durability {durability!r}; use 'normal' or 'full'")
    scheme = _scheme(url)
    if scheme == "memory":
        if url != MEMORY_URL:
            raise StateError(f"state URL {url!r}: the in-memory store is spelled {MEMORY_URL!r}")
        return MemoryStateStore(clock)
    if scheme in _POSTGRES_SCHEMES:
        raise StateError(
            f"PostgreSQL state is not available yet ({_redact(url)}); use a SQLite path such "
            "as sqlite:///var/lib/aetherflow/state.db until the PostgreSQL backend ships"
        )
    if scheme not in (None, "sqlite"):
        raise StateError(
            f"unsupported state URL {_redact(url)!r}; use sqlite:///abs/path.db, "
            "sqlite:relative/path.db, a file path, or memory:"
        )
    sqlite_durability: Durability = "full" if durability == "full" else "normal"
    return SqliteStateStore(sqlite_path(url), clock=clock, durability=sqlite_durability)
