"""CSV/TSV text of Arrow record batches, byte for byte what :class:`CsvSink` writes for the
same values: the ``arrow`` engine of CSV/TSV extracts.

It serves connectors whose Arrow batches hold exactly the values their ``stream`` returns
(:func:`~aetherflow.runner.database.arrow_matches_stream`), for columns of integers, float64,
strings or nulls only, and for UTF-8 files with ``doublequote`` and no ``escapechar`` (quoting
``minimal``, ``all`` or ``nonnumeric``); anything else raises :class:`NotImplementedError` and the
generic writer runs instead. Fields are rendered a column at a time by Arrow compute functions,
so no Python object is made per value:

* integers: Arrow's decimal text, which is ``str(int)``;
* floats: ``repr(float)``. Arrow's text has the same shortest round-trip digits; it is kept where
  its layout is ``repr``'s (positional for 1e-4 ≤ |x| < 1e16, with ``.0`` added to whole
  numbers, which Arrow writes without a point; an exponent for |x| ≥ 1e16), and the rest
  (smaller values, NaN, infinities, and large values Arrow writes with an exponent) is rendered
  by ``repr`` itself;
* quoting as the ``csv`` module does it: a field is quoted when it contains the delimiter, the
  quote character, CR, LF or a character of ``linefeed``, a quote inside is doubled; with
  ``all`` every field (a null as ``""``), with ``nonnumeric`` every non-number (strings and
  nulls); a record of one empty field is ``""``.

The rules are checked, not trusted: a probe batch of awkward values (every quoting trigger, empty
strings, nulls, floats at each layout boundary) is rendered here and by :class:`CsvSink` (once per
process for each option set and column kinds), and unless the bytes are equal the path is
declined: a ``csv`` module or an Arrow version with other rules falls back to the generic writer
instead of writing other bytes.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import io
import itertools
from collections.abc import Sequence
from typing import Any

from aetherflow.steps.db_inputs import CsvOptions
from aetherflow.steps.db_writers import CsvSink, internal_terminator

SUPPORTED_QUOTING = ("minimal", "all", "nonnumeric")
POSITIONAL_LOW = 1e-4
POSITIONAL_HIGH = 1e16
"""``repr`` writes a float positionally when POSITIONAL_LOW ≤ |x| < POSITIONAL_HIGH (or x is 0)."""
NUMBER_CHARS = frozenset("+-.0123456789aefin")
"""Every character of an int's or a float's text (``-1.5e+16``, ``nan``, ``inf``)."""


def arrow_compute_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.compute)``.

    Raises:
        NotImplementedError: pyarrow is not installed (CSV does not need it otherwise).
    """
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.compute")
    except ImportError as exc:
        raise NotImplementedError(f"the arrow CSV writer needs pyarrow: {exc}") from exc


def column_kind(pa: Any, arrow_type: Any) -> str | None:
    """``int``, ``float``, ``string`` or ``null`` for the Arrow types rendered here, else None."""
    types = pa.types
    if types.is_integer(arrow_type):
        return "int"
    if types.is_float64(arrow_type):
        return "float"
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return "string"
    if types.is_null(arrow_type):
        return "null"
    return None


def _unsupported_options(options: CsvOptions) -> str | None:
    if codecs.lookup(options.encoding).name != "utf-8":
        return f"encoding {options.encoding}"
    if options.escapechar is not None or not options.doublequote:
        return "an escapechar or doublequote: false"
    if options.quoting not in SUPPORTED_QUOTING:
        return f"quoting {options.quoting}"
    if options.delimiter == options.quotechar:
        return "the same delimiter and quotechar"
    return None


class ArrowCsvRenderer:
    """Renders record batches of one schema as the UTF-8 text of their CSV records.

    Args:
        pa: The ``pyarrow`` module.
        pc: The ``pyarrow.compute`` module.
        schema: The batches' schema.
        options: The file options.

    Raises:
        NotImplementedError: A column type or an option this renderer does not reproduce.
    """

    def __init__(self, pa: Any, pc: Any, schema: Any, options: CsvOptions) -> None:
        problem = _unsupported_options(options)
        if problem is not None:
            raise NotImplementedError(f"the arrow CSV writer does not do {problem}")
        self.pa, self.pc = pa, pc
        self.kinds: list[str] = []
        for field in schema:
            kind = column_kind(pa, field.type)
            if kind is None:
                raise NotImplementedError(f"column {field.name!r} has Arrow type {field.type}")
            self.kinds.append(kind)
        self.options = options
        self.quote = options.quotechar
        specials = dict.fromkeys(
            options.delimiter + options.quotechar + internal_terminator(options.linefeed)
        )
        self._special_bytes = [c.encode("utf-8") for c in specials]
        self._special_pattern = "[" + "".join(f"\\x{{{ord(c):X}}}" for c in specials) + "]"
        # Numbers never need quotes unless a special character can be part of their text.
        self._numbers_plain = NUMBER_CHARS.isdisjoint(specials)

    def logical_kinds(self) -> list[str | None]:
        """The logical type of each column (None: only nulls), as the generic path reports it."""
        return [None if kind == "null" else kind for kind in self.kinds]

    def render(self, batch: Any) -> memoryview:
        """The records of ``batch``, each ending with ``linefeed``, encoded as UTF-8.

        Raises:
            NotImplementedError: Arrow failed (e.g. the text of one batch passed 2 GiB).
        """
        try:
            fields = [self._field(kind, batch.column(i)) for i, kind in enumerate(self.kinds)]
            pc = self.pc
            last = pc.binary_join_element_wise(
                pc.fill_null(fields[-1], ""), self.options.linefeed, ""
            )
            records = pc.binary_join_element_wise(
                *fields[:-1],
                last,
                self.options.delimiter,
                null_handling="replace",
                null_replacement="",
            )
        except self.pa.ArrowException as exc:
            raise NotImplementedError(f"Arrow could not render the batch: {exc}") from exc
        return _text_bytes(records)

    def _field(self, kind: str, array: Any) -> Any:
        pa, pc, quoting = self.pa, self.pc, self.options.quoting
        text = self._text(kind, array)
        numeric = kind in ("int", "float")
        if quoting == "all" or (quoting == "nonnumeric" and not numeric):
            text = pc.fill_null(text, "")
            return self._quoted(text, bytes(_text_bytes(text)))
        if not (numeric and self._numbers_plain):
            text = self._quoted_where_needed(text)
        if quoting == "nonnumeric":
            return pc.fill_null(text, self.quote * 2)  # None is not a number: quoted
        if len(self.kinds) == 1:  # the csv module quotes a record of one empty field
            text = pc.fill_null(text, "")
            return pc.if_else(pc.equal(text, ""), pa.scalar(self.quote * 2), text)
        return text

    def _text(self, kind: str, array: Any) -> Any:
        pa, pc = self.pa, self.pc
        if kind == "int":
            return pc.cast(array, pa.string())
        if kind == "float":
            return self._float_text(array)
        if kind == "null":
            return pa.nulls(len(array), pa.string())
        return array.cast(pa.string()) if pa.types.is_large_string(array.type) else array

    def _float_text(self, array: Any) -> Any:
        """``repr`` of every value (see the module docstring)."""
        pa, pc = self.pa, self.pc
        text = pc.cast(array, pa.string())
        size = pc.abs(array)
        positional = pc.or_(
            pc.and_(pc.greater_equal(size, POSITIONAL_LOW), pc.less(size, POSITIONAL_HIGH)),
            pc.equal(size, 0.0),
        )
        has_exponent = pc.match_substring(text, "e")
        plain = pc.and_(positional, pc.invert(has_exponent))
        whole = pc.and_(plain, pc.equal(array, pc.trunc(array)))  # Arrow wrote no ".0"
        if pc.any(whole).as_py():
            text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
        exponent = pc.and_(pc.greater_equal(size, POSITIONAL_HIGH), has_exponent)
        redo = pc.invert(pc.fill_null(pc.or_(plain, exponent), True))
        if pc.any(redo).as_py():
            values = array.filter(redo).to_pylist()
            text = pc.replace_with_mask(text, redo, pa.array(list(map(repr, values)), pa.string()))
        return text

    def _quoted_where_needed(self, text: Any) -> Any:
        """``text`` with the fields quoted that hold a character for which the ``csv`` module
        quotes (the column's bytes are scanned once; most columns hold none)."""
        data = bytes(_text_bytes(text))
        if not any(special in data for special in self._special_bytes):
            return text
        needs = self.pc.match_substring_regex(text, self._special_pattern)
        return self.pc.if_else(needs, self._quoted(text, data), text)

    def _quoted(self, text: Any, data: bytes) -> Any:
        """Every field of ``text`` in quotes, quotes inside doubled (``data``: its bytes)."""
        pc, quote = self.pc, self.quote
        if quote.encode("utf-8") in data:
            text = pc.replace_substring(text, quote, quote * 2)
        return pc.binary_join_element_wise(quote, text, quote, "")


def _text_bytes(array: Any) -> memoryview:
    """The UTF-8 bytes of a string array's values, back to back."""
    _, offsets, data = array.buffers()
    if data is None:
        return memoryview(b"")
    positions = memoryview(offsets).cast("i")
    start, end = positions[array.offset], positions[array.offset + len(array)]
    return memoryview(data)[start:end]


# -- the probe ------------------------------------------------------------------------------------

_PROBE_INTS = (0, -7, 42, 2**63 - 1, -(2**63), None)
_PROBE_FLOATS = (
    0.0,
    -0.0,
    1.0,
    -2.5,
    0.1,
    1 / 3,
    1e-4,
    9.5e-5,
    1e-5,
    1e-7,
    123456.0,
    1e15,
    9999999999999998.0,
    1e16,
    -1.5e16,
    123456789012345.6,
    1e22,
    5e-324,
    1.7976931348623157e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    None,
)


def _probe_texts(options: CsvOptions) -> list[str | None]:
    quote, delimiter = options.quotechar, options.delimiter
    return [
        "",
        "plain",
        " lead",
        "trail ",
        delimiter,
        quote,
        f"{quote}x{quote}",
        f"a{delimiter}b",
        "\n",
        "\r",
        "\r\n",
        "x\ny",
        options.linefeed,
        f"é ✓{options.linefeed}z",
        "nan",
        "1.5",
        "\\",
        None,
    ]


@functools.lru_cache(maxsize=64)
def agrees_with_csv_module(pa: Any, pc: Any, options: CsvOptions, kinds: tuple[str, ...]) -> bool:
    """True when a probe batch of columns of ``kinds`` renders here exactly as :class:`CsvSink`
    writes it (see the module docstring); computed once per options and kinds."""
    values: dict[str, Sequence[Any]] = {
        "int": _PROBE_INTS,
        "float": _PROBE_FLOATS,
        "string": _probe_texts(options),
        "null": (None,),
    }
    types = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "null": pa.null()}
    rows = max(len(values[k]) for k in kinds) * 2
    # Each column starts at another offset, so different values share a record.
    columns = [
        list(itertools.islice(itertools.cycle(values[kind]), index, index + rows))
        for index, kind in enumerate(kinds)
    ]
    schema = pa.schema([(f"c{i}", types[kind]) for i, kind in enumerate(kinds)])
    arrays = [pa.array(c, types[kind]) for c, kind in zip(columns, kinds, strict=True)]
    ours = ArrowCsvRenderer(pa, pc, schema, options).render(pa.record_batch(arrays, schema=schema))
    target = io.BytesIO()
    CsvSink(target, options).write(list(zip(*columns, strict=True)))
    return bytes(ours) == target.getvalue()
