"""Parquet output of the data steps: Arrow types for column types, value coercion, the writer.

Type map (``DType`` → Arrow): int → int64, float → float64, bool → bool, decimal →
decimal128(p, s) (decimal256 above precision 38), date → date32, datetime → timestamp(us) (with
time zone UTC when the values carry one), time → time64(us), string → string, bytes → binary;
unknown (only nulls) → string.

Values are coerced only where Arrow would otherwise fail or lose data (a non-integral float in an
int column is an error, not a truncation). Columns typed by the ``dtypes`` input are lenient like
the predecessor: ``""`` is null for non-string columns and strings are parsed.

pyarrow is imported lazily (:func:`pyarrow_modules`), so the steps load without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from aetherflow.errors import StepError
from aetherflow.runner.database import Row
from aetherflow.runtime.deps import require
from aetherflow.steps.db_types import MAX_DECIMAL128_PRECISION, DType
from aetherflow.steps.db_writers import render_text

_NATIVE: dict[str, type] = {
    "int": int,
    "float": float,
    "bool": bool,
    "string": str,
    "decimal": Decimal,
    "date": dt.date,
    "datetime": dt.datetime,
    "time": dt.time,
    "bytes": bytes,
}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


def pyarrow_modules(step_type: str) -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or MissingDependency naming the step and the extra."""
    needed_for = f"step {step_type} with format parquet"
    return require("pyarrow", needed_for=needed_for), require(
        "pyarrow.parquet", needed_for=needed_for
    )


def arrow_type(pa: Any, dtype: DType | None) -> Any:
    """The Arrow type of a column type (string when unknown)."""
    kind = dtype.kind if dtype else "string"
    if kind == "decimal" and dtype is not None:
        precision = dtype.precision or MAX_DECIMAL128_PRECISION
        scale = dtype.scale or 0
        if precision > MAX_DECIMAL128_PRECISION:
            return pa.decimal256(precision, scale)
        return pa.decimal128(precision, scale)
    if kind == "datetime":
        return pa.timestamp("us", tz="UTC" if dtype and dtype.tz else None)
    simple = {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "bytes": pa.binary(),
    }
    return simple.get(kind, pa.string())


def canonical_arrow_type(pa: Any, t: Any) -> Any:
    """The Arrow type the generic path would write for a column of Arrow type ``t``.

    Returns None for types the data steps do not write (lists, structs, intervals, ...).
    """
    types = pa.types
    if types.is_dictionary(t):
        return canonical_arrow_type(pa, t.value_type)
    checks: list[tuple[Callable[[Any], bool], Any]] = [
        (types.is_boolean, pa.bool_()),
        (types.is_integer, pa.int64()),
        (types.is_floating, pa.float64()),
        (types.is_date, pa.date32()),
        (types.is_time, pa.time64("us")),
        (types.is_null, pa.string()),
    ]
    for check, target in checks:
        if check(t):
            return target
    if types.is_decimal(t):
        return t
    if types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if types.is_string(t) or types.is_large_string(t) or _is_view(types, "is_string_view", t):
        return pa.string()
    if types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t):
        return pa.binary()
    if _is_view(types, "is_binary_view", t):
        return pa.binary()
    return None


def _is_view(types: Any, name: str, t: Any) -> bool:
    check = getattr(types, name, None)
    return bool(check(t)) if check is not None else False


def kind_of_arrow(pa: Any, t: Any) -> str:
    """The logical kind of a canonical Arrow type (for ``dtypes`` outputs and rules)."""
    types = pa.types
    pairs = [
        (types.is_boolean, "bool"),
        (types.is_integer, "int"),
        (types.is_floating, "float"),
        (types.is_decimal, "decimal"),
        (types.is_date, "date"),
        (types.is_timestamp, "datetime"),
        (types.is_time, "time"),
        (types.is_binary, "bytes"),
    ]
    return next((kind for check, kind in pairs if check(t)), "string")


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_datetime(text: str) -> dt.datetime:
    text = text.strip()
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _integral(value: float | Decimal) -> int:
    whole = value.is_integer() if isinstance(value, float) else value == value.to_integral_value()
    if whole:
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")


def coerce_value(value: Any, kind: str, lenient: bool) -> Any:
    """Convert one value for a column of ``kind`` (see the module docstring).

    Raises:
        ValueError: The value cannot be written as ``kind``.
    """
    if kind == "string":
        return render_text(value)
    if lenient and isinstance(value, str):
        if value == "":
            return None
        parsers: dict[str, Callable[[str], Any]] = {
            "int": lambda s: int(s.strip()),
            "float": float,
            "bool": _parse_bool,
            "decimal": lambda s: Decimal(s.strip()),
            "date": lambda s: dt.date.fromisoformat(s.strip()),
            "datetime": _parse_datetime,
            "time": lambda s: dt.time.fromisoformat(s.strip()),
        }
        if kind in parsers:
            return parsers[kind](value)
    if kind == "int" and isinstance(value, float | Decimal):
        return _integral(value)
    if kind == "float" and isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value)
    if kind == "decimal" and isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if kind == "bytes" and isinstance(value, bytearray | memoryview):
        return bytes(value)
    if lenient and kind == "datetime" and type(value) is dt.date:
        return dt.datetime(value.year, value.month, value.day)
    return value


class ParquetSink:
    """Writes batches of rows to a Parquet file, one row group per batch."""

    def __init__(
        self,
        path: Path,
        names: Sequence[str],
        dtypes: Sequence[DType | None],
        *,
        lenient: Sequence[bool],
        step_type: str,
    ) -> None:
        self.pa, pq = pyarrow_modules(step_type)
        duplicates = sorted({n for n in names if list(names).count(n) > 1})
        if duplicates:
            raise StepError(
                f"the query returns the column name(s) {', '.join(duplicates)} more than once; "
                "Parquet needs unique names — rename them with AS"
            )
        self.names = list(names)
        self.dtypes = list(dtypes)
        self.lenient = list(lenient)
        self.types = [arrow_type(self.pa, d) for d in dtypes]
        self.schema = self.pa.schema(list(zip(self.names, self.types, strict=True)))
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self._row = 0

    def write(self, batch: Sequence[Row]) -> None:
        """Convert and write one batch of rows."""
        if not batch:
            return
        arrays = []
        for index, values in enumerate(zip(*batch, strict=True)):
            arrays.append(self._array(index, list(values)))
        self.writer.write_batch(self.pa.record_batch(arrays, schema=self.schema))
        self._row += len(batch)

    def _array(self, index: int, values: list[Any]) -> Any:
        dtype = self.dtypes[index]
        kind = dtype.kind if dtype else "string"
        native, lenient = _NATIVE[kind], self.lenient[index]
        try:
            values = [
                v if v is None or type(v) is native else coerce_value(v, kind, lenient)
                for v in values
            ]
            return self.pa.array(values, type=self.types[index])
        except (ValueError, TypeError, ArithmeticError, InvalidOperation) as exc:
            raise self._conversion_error(index, values, exc) from exc

    def _conversion_error(self, index: int, values: list[Any], exc: BaseException) -> StepError:
        name, arrow = self.names[index], self.types[index]
        dtype = self.dtypes[index]
        kind = dtype.kind if dtype else "string"
        where = ""
        for offset, value in enumerate(values):
            try:
                converted = (
                    value if value is None else coerce_value(value, kind, self.lenient[index])
                )
                self.pa.array([converted], type=arrow)
            except (ValueError, TypeError, ArithmeticError) as problem:
                where = f" row {self._row + offset + 1}: value {value!r} ({type(value).__name__}):"
                exc = problem
                break
        return StepError(
            f"column {name!r} cannot be written to Parquet as {arrow}:{where} {exc}; set "
            f"dtypes (e.g. dtypes: {{{name}: string}}) or cast the column in SQL"
        )

    def finish(self) -> None:
        """Close the writer (writes the footer)."""
        self.writer.close()

    def abort(self) -> None:
        """Close after a failure (the file is removed by the caller)."""
        self.writer.close()
