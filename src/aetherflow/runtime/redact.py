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
from collections.abc import Iterable, Mapping
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
        self._pattern: re.Pattern[str] | None = None
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
            ordered = sorted(self._forms, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

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
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """Redact strings inside nested dicts/lists/tuples (dict keys too); others unchanged."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(v) for v in value)
        return value


class _Active:
    """The redactors of the runs active in this process (the log formatters apply them).

    Changes replace an immutable snapshot under a lock; :meth:`redact` reads the snapshot
    without one (every log line passes through it).
    """

    def __init__(self) -> None:
        self._redactors: list[Redactor] = []
        self._process: Redactor | None = None
        self._snapshot: tuple[Redactor, ...] = ()
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
        """Apply every active redactor to ``text``."""
        for redactor in self._snapshot:  # one read of an immutable tuple: no lock needed
            text = redactor.redact(text)
        return text


ACTIVE = _Active()
"""Redactors of running flows; log formatters and CLI error output pass text through them."""
