"""Text writers of the data steps (CSV/TSV, JSONL), value encodings, and atomic output files.

Value encodings (``docs/steps/database.md#value-encodings``), CSV/TSV field — JSONL value:

* ``None``: empty field — ``null``
* ``str``: as is — string
* ``bool``: ``true``/``false`` — ``true``/``false``
* ``int``: decimal digits — number
* ``float``: ``repr`` (``0.1``, ``1e-05``, ``nan``, ``inf``, ``-inf``) — number; NaN and
  infinities are ``null``
* ``Decimal``: exact, positional, scale kept (``12.50``, ``0.0000000000``; never an exponent)
  — string with the same text
* ``datetime``/``date``/``time``: ISO-8601 (``2026-01-02T03:04:05``, with the UTC offset when the
  value has a zone) — string with the same text
* ``bytes``: base64 (standard alphabet, padded) — string with the same text
* ``dict``/``list`` (JSON columns): compact JSON text — nested JSON
* anything else: ``str(value)`` — string ``str(value)``
"""

from __future__ import annotations

import base64
import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO

from aetherflow.errors import StepError
from aetherflow.runner.database import Row
from aetherflow.steps.db_inputs import QUOTING, CsvOptions

_CSV_NATIVE = (str, int, float, type(None))
_JSON_NATIVE = (str, int, bool, type(None))
# Types written as they are: a batch whose columns hold only these skips the per-value pass.
_CSV_PLAIN: frozenset[type] = frozenset(_CSV_NATIVE)
# Floats too: NaN and infinity still fail, because the encoder runs with allow_nan=False.
_JSON_PLAIN: frozenset[type] = frozenset((*_JSON_NATIVE, float))


def _plain(batch: Sequence[Row], plain: frozenset[type]) -> bool:
    """True when every value of ``batch`` has a type in ``plain`` (one pass, in C)."""
    return plain.issuperset(map(type, itertools.chain.from_iterable(batch)))


def decimal_text(value: Decimal) -> str:
    """A Decimal's exact text in positional notation (scale kept: ``0E-10`` → ``0.0000000000``)."""
    return format(value, "f") if value.is_finite() else str(value)


def render_text(value: Any) -> str:
    """The CSV/TSV text of a value (the table in the module docstring)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=json_value)
    return str(value)


def json_value(value: Any) -> Any:
    """The JSON value of a value (the table in the module docstring)."""
    if isinstance(value, _JSON_NATIVE):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return render_text(value)


class Number:
    """A number whose CSV text we choose; the ``csv`` module does not quote it (nonnumeric)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __float__(self) -> float:
        return float(self.text)

    def __str__(self) -> str:
        return self.text


class ByteSink(io.RawIOBase):
    """A binary file that counts and hashes what is written to it."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, data: Any) -> int:
        """Write, count and hash ``data``."""
        view = memoryview(data).cast("B")
        self._raw.write(view)
        self.sha256.update(view)
        self.bytes += len(view)
        return len(view)


class _TextBuffer:
    """Collects the text the ``csv`` writer produces for one batch."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


class _CsvLines(_TextBuffer):
    """Rows the ``csv`` writer ends with ``internal``, stored ending with ``linefeed`` (one
    ``write`` per row; see :class:`CsvSink`)."""

    def __init__(self, internal: str, linefeed: str) -> None:
        super().__init__()
        self.cut = len(internal)
        self.linefeed = linefeed

    def write(self, text: str) -> int:
        self.parts.append(text[: -self.cut] + self.linefeed)
        return len(text)


def internal_terminator(linefeed: str) -> str:
    """The line terminator the ``csv`` writer is given for ``linefeed``: ``linefeed`` plus CR
    and LF when it lacks them, so that fields holding any of these are quoted."""
    return linefeed + "".join(ch for ch in "\r\n" if ch not in linefeed)


class TextSink:
    """Base of the CSV and JSONL writers: text encoded batch by batch into a :class:`ByteSink`.

    An incremental encoder writes a byte-order mark once for encodings that have one
    (``utf-8-sig``, ``utf-16``). ``target`` is a file path, or a binary file the sink then owns
    (closed by :meth:`finish` and :meth:`abort`).
    """

    def __init__(self, target: Path | IO[bytes], encoding: str) -> None:
        self._raw = target.open("wb") if isinstance(target, Path) else target
        self.sink = ByteSink(self._raw)
        self.encoding = encoding
        self._encoder = codecs.getincrementalencoder(encoding)("strict")
        self.buffer = _TextBuffer()

    def flush_text(self) -> None:
        """Encode and write what was buffered."""
        text = "".join(self.buffer.parts)
        self.buffer.parts.clear()
        try:
            data = self._encoder.encode(text)
        except UnicodeEncodeError as exc:
            raise _encode_error(exc, self.encoding) from exc
        self.sink.write(data)

    def finish(self) -> str:
        """Write the rest and close; the sha256 hex digest of the file."""
        self.flush_text()
        self.sink.write(self._encoder.encode("", final=True))
        self._raw.close()
        return self.sink.sha256.hexdigest()

    def abort(self) -> None:
        """Close after a failure (the caller removes the file)."""
        self._raw.close()


def _encode_error(exc: UnicodeEncodeError, encoding: str) -> StepError:
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
    return StepError(
        f"a value contains {bad!r}, which the encoding {encoding!r} cannot represent; choose "
        "another encoding (e.g. utf-8) or convert the value in SQL"
    )


class CsvSink(TextSink):
    """CSV/TSV through the ``csv`` module with the step's file options.

    A batch is one ``writerows`` into a ``StringIO``. Python 3.11's writer quotes a field only
    for the delimiter, the quote character and the characters of its line terminator, so a value
    with a lone CR (or, with ``linefeed: ";"``, any line break) would split the record for a
    reader: such fields must be quoted as if CR, LF and every ``linefeed`` character ended the
    rows (:func:`internal_terminator`). A batch is written with ``linefeed`` first; only when its
    text holds CR or LF that ``linefeed`` lacks is it written again with the internal
    terminator, which is then replaced by ``linefeed`` — in one ``str.replace`` when it occurs
    exactly once per row (it cannot overlap itself), else row by row (:class:`_CsvLines`).
    """

    def __init__(self, target: Path | IO[bytes], options: CsvOptions) -> None:
        super().__init__(target, options.encoding)
        self.options = options
        self.nonnumeric = options.quoting == "nonnumeric"
        self.internal = internal_terminator(options.linefeed)
        self._missing = self.internal[len(options.linefeed) :]
        self._text = io.StringIO()
        self.writer = _csv_writer(self._text, options, options.linefeed)
        self._strict = _csv_writer(self._text, options, self.internal)
        self.include_header = options.include_header

    def header(self, names: Sequence[str]) -> None:
        """Write the header line (when ``include_header``)."""
        if self.include_header:
            self._rows([list(names)])

    def write(self, batch: Sequence[Row]) -> None:
        """Write one batch of rows."""
        if self.nonnumeric:
            self._rows([[_nonnumeric_field(v) for v in row] for row in batch])
        elif _plain(batch, _CSV_PLAIN):
            self._rows(batch)
        else:
            self._rows(
                [[v if type(v) in _CSV_NATIVE else render_text(v) for v in row] for row in batch]
            )

    def write_fields(self, rows: list[list[Any]]) -> None:
        """Write rows whose fields are already text (or :class:`Number`)."""
        self._rows(rows)

    def write_encoded(self, data: Any) -> None:
        """Write records already rendered and encoded (bytes-like, in the sink's encoding)."""
        self.flush_text()
        self.sink.write(data)

    def _rows(self, rows: Sequence[Sequence[Any]]) -> None:
        text = self._render(self.writer, rows)
        if any(ch in text for ch in self._missing):
            text = self._render(self._strict, rows)
            linefeed = self.options.linefeed
            if text.count(self.internal) == len(rows):
                text = text.replace(self.internal, linefeed)
            else:
                lines = _CsvLines(self.internal, linefeed)
                _csv_writer(lines, self.options, self.internal).writerows(rows)
                text = "".join(lines.parts)
        self.buffer.parts.append(text)
        self.flush_text()

    def _render(self, writer: Any, rows: Sequence[Sequence[Any]]) -> str:
        try:
            writer.writerows(rows)
        except csv.Error as exc:
            raise StepError(
                f"CSV writer: {exc}; with quoting none, set an escapechar (or use another "
                "quoting mode)"
            ) from exc
        finally:
            text = self._text.getvalue()
            self._text.seek(0)
            self._text.truncate()
        return text


def _csv_writer(target: Any, options: CsvOptions, terminator: str) -> Any:
    return csv.writer(
        target,
        delimiter=options.delimiter,
        quotechar=options.quotechar,
        escapechar=options.escapechar,
        doublequote=options.doublequote,
        quoting=QUOTING[options.quoting],
        lineterminator=terminator,
    )


def _nonnumeric_field(value: Any) -> Any:
    if isinstance(value, bool):
        return render_text(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return Number(decimal_text(value))
    return render_text(value)


class JsonlSink(TextSink):
    """One JSON object per row (``{"column": value, ...}``), lines ending in ``\\n``."""

    def __init__(self, path: Path, encoding: str, names: Sequence[str]) -> None:
        duplicates = sorted({n for n in names if list(names).count(n) > 1})
        if duplicates:
            raise StepError(
                f"the query returns the column name(s) {', '.join(duplicates)} more than once; "
                "JSONL objects need unique names — rename them with AS"
            )
        super().__init__(path, encoding)
        self.names = list(names)
        self._encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode

    def write(self, batch: Sequence[Row]) -> None:
        """Write one batch of rows."""
        names, encode = self.names, self._encode
        lines: list[str] | None = None
        if _plain(batch, _JSON_PLAIN):
            try:
                lines = [encode(dict(zip(names, row, strict=True))) for row in batch]
            except ValueError:
                lines = None  # a NaN or infinity: the per-value pass below turns it into null
        if lines is None:
            lines = [
                encode(
                    {
                        n: (v if type(v) in _JSON_NATIVE else json_value(v))
                        for n, v in zip(names, row, strict=True)
                    }
                )
                for row in batch
            ]
        if lines:
            self.buffer.write("\n".join(lines) + "\n")
            self.flush_text()


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file (read in 1 MiB chunks)."""
    with FileDigest(path) as digest:
        return digest.finish()


class FileDigest:
    """The sha256 of a file that another writer appends to, taken as it grows.

    :meth:`update` hashes what was written since the last call (while the writer waits for its
    next input, the bytes are still in the page cache); :meth:`finish`, called once the writer
    has closed the file, hashes the rest. The file is opened at the first of them, so the digest
    may be set up before the writer creates it. For writers that only append (Parquet writes its
    row groups, then the footer); a file rewritten in place would give a wrong digest.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None

    def __enter__(self) -> FileDigest:
        return self

    def __exit__(self, *_: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def update(self) -> None:
        """Hash the bytes appended since the last call."""
        if self._handle is None:
            self._handle = self._path.open("rb")
        while chunk := self._handle.read(1 << 20):
            self._digest.update(chunk)

    def finish(self) -> str:
        """Hash the rest; the hex digest of the whole file."""
        self.update()
        return self._digest.hexdigest()
