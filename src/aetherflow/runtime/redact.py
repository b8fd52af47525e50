"""Redaction: secrets never reach logs, events, state or error messages.

Registered secrets are replaced by ``***`` in their literal form and in the encoded forms they
typically leak in: base64 (standard and URL-safe, with and without padding), URL-encoded
(``quote`` and ``quote_plus``) and JSON-escaped. Values shorter than 4 characters are not
registered (they would redact ordinary words). What gets registered (the runner decides): every
value returned by the secrets hook's ``decode``, the values of env keys matching
``AETHERFLOW_SECRET_ENV_PATTERNS`` and resource config fields with secret-like names.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4
SECRET_FIELD_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential")


def encoded_forms(secret: str) -> set[str]:
    """The literal secret and the encodings it leaks in."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        base64.b64encode(raw).decode("ascii"),
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def is_secret_name(name: str) -> bool:
    """True for field names like ``password``, ``api_token``, ``client_secret``."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_FIELD_WORDS)


class Redactor:
    """Replaces every registered secret (in all its forms) by ``***``."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._matcher: _Matcher | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._forms)

    def add(self, secret: str) -> None:
        """Register a secret (ignored when shorter than 4 characters)."""
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            return
        forms = encoded_forms(secret)
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            # One assignment: a reader sees the old pattern and length or the new ones.
            self._matcher = _Matcher(frozenset(self._forms))

    def add_env(self, env: Mapping[str, str], patterns: Iterable[str]) -> None:
        """Register the values of env keys matching any glob pattern (case-insensitive)."""
        compiled = [p.upper() for p in patterns]
        for key, value in env.items():
            upper = key.upper()
            if any(fnmatch.fnmatchcase(upper, pattern) for pattern in compiled):
                self.add(value)

    def add_secret_fields(self, tree: Any) -> None:
        """Register string values of secret-named keys anywhere in ``tree``."""
        if isinstance(tree, Mapping):
            for key, value in tree.items():
                if isinstance(value, str) and is_secret_name(str(key)):
                    self.add(value)
                else:
                    self.add_secret_fields(value)
        elif isinstance(tree, list | tuple):
            for item in tree:
                self.add_secret_fields(item)

    def redact(self, text: str) -> str:
        """``text`` with every secret form replaced by ``***``."""
        matcher = self._matcher
        if matcher is None or len(text) < matcher.shortest:
            return text  # (too short to hold the shortest form: most ids, names and statuses)
        return matcher.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """Redact strings inside nested dicts/lists/tuples (dict keys too); others unchanged.

        Dicts, lists and tuples come back as new ones of those types where a string in them
        changed, and as they are where nothing did.
        """
        matcher = self._matcher
        if matcher is None:
            return value
        return _redacted(value, matcher)


class _Matcher:
    """The compiled state of a set of secret forms: ``sub`` of one pattern of them all (longest
    first) and the shortest form's length. Immutable; compared by identity."""

    __slots__ = ("forms", "shortest", "sub")

    def __init__(self, forms: frozenset[str]) -> None:
        ordered = sorted(forms, key=len, reverse=True)
        self.forms = forms
        self.sub: Callable[[str, str], str] = re.compile(
            "|".join(re.escape(form) for form in ordered)
        ).sub
        self.shortest = len(ordered[-1])


_PLAIN = (int, float, bool, type(None))
"""Types of values that are never redacted (checked by exact type: subclasses take the walk)."""


def _redacted(value: Any, matcher: _Matcher) -> Any:
    if isinstance(value, str):
        # ``sub`` returns the string itself when nothing matched: "unchanged" is an identity test
        return value if len(value) < matcher.shortest else matcher.sub(MASK, value)
    if isinstance(value, dict):
        return _redacted_dict(value, matcher)
    if isinstance(value, list | tuple):
        items = [_redacted(item, matcher) for item in value]
        if type(value) in (list, tuple) and all(
            new is old for new, old in zip(items, value, strict=True)
        ):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def _redacted_dict(value: dict[Any, Any], matcher: _Matcher) -> dict[Any, Any]:
    # The walk of every event's fields: strings and plain scalars without a call each.
    shortest, sub = matcher.shortest, matcher.sub
    changed = type(value) is not dict
    pairs = []
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            new = item if len(item) < shortest else sub(MASK, item)
        elif kind in _PLAIN:
            new = item
        else:
            new = _redacted(item, matcher)
        new_key = key if type(key) is str and len(key) < shortest else _redacted(key, matcher)
        if new is not item or new_key is not key:
            changed = True
        pairs.append((new_key, new))
    return dict(pairs) if changed else value


class _Active:
    """The redactors of the runs active in this process (the log formatters apply them).

    Changes replace an immutable snapshot under a lock; :meth:`redact` reads the snapshot
    without one (every log line passes through it).
    """

    def __init__(self) -> None:
        self._redactors: list[Redactor] = []
        self._process: Redactor | None = None
        self._snapshot: tuple[Redactor, ...] = ()
        self._combined: tuple[tuple[_Matcher | None, ...], _Matcher | None] = ((), None)
        """The active redactors' matchers when it was built, and their combined matcher."""
        self._lock = threading.Lock()

    def _publish(self) -> None:
        process = (self._process,) if self._process is not None else ()
        self._snapshot = (*self._redactors, *process)

    def set_process(self, redactor: Redactor | None) -> None:
        """The command's own redactor (env secrets; kept until the process ends or replaced)."""
        with self._lock:
            self._process = redactor
            self._publish()

    def push(self, redactor: Redactor) -> None:
        """Start applying ``redactor`` to everything the CLI prints or logs."""
        with self._lock:
            self._redactors.append(redactor)
            self._publish()

    def remove(self, redactor: Redactor) -> None:
        """Stop applying ``redactor``."""
        with self._lock:
            if redactor in self._redactors:
                self._redactors.remove(redactor)
                self._publish()

    def redact(self, text: str) -> str:
        """Apply every active redactor to ``text``: one pass with the forms of them all."""
        snapshot = self._snapshot  # one read of an immutable tuple: no lock needed
        if len(snapshot) < 2:
            return snapshot[0].redact(text) if snapshot else text
        matchers = tuple([redactor._matcher for redactor in snapshot])
        key, combined = self._combined
        if key != matchers:  # a redactor was added, removed or learned a secret
            forms = frozenset().union(*(m.forms for m in matchers if m is not None))
            combined = _Matcher(forms) if forms else None
            self._combined = (matchers, combined)
        if combined is None or len(text) < combined.shortest:
            return text
        return combined.sub(MASK, text)


ACTIVE = _Active()
"""Redactors of running flows; log formatters and CLI error output pass text through them."""
