"""Column types of the data steps: declared (``dtypes``), reported by the driver, or inferred.

A column's type is resolved in this order: the step's ``dtypes`` input, the driver's
:attr:`Column.type <aetherflow.runner.database.Column>`, the first non-null value read. A column
with no declared or reported type and only nulls stays unknown (``None``); it is written as
``string`` to Parquet and emitted as ``string``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from aetherflow.runner.database import LOGICAL_TYPES, Column, Row, infer_type

# Labels accepted in ``dtypes``/``dtypes_json`` (case-insensitive) and the type each means.
DTYPE_SYNONYMS: dict[str, str] = {
    "int": "int",
    "integer": "int",
    "bigint": "int",
    "float": "float",
    "double": "float",
    "real": "float",
    "bool": "bool",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
    "time": "time",
    "string": "string",
    "str": "string",
    "text": "string",
    "varchar": "string",
    "decimal": "decimal",
    "numeric": "decimal",
    "bytes": "bytes",
    "binary": "bytes",
}
_DECIMAL_RE = re.compile(r"(decimal|numeric)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\Z", re.IGNORECASE)
MAX_DECIMAL128_PRECISION = 38
MAX_DECIMAL_PRECISION = 76

# The labels ``db_fetch_small`` outputs (the predecessor's): Decimal is reported as float, time
# and bytes as string.
SMALL_LABELS = {"decimal": "float", "time": "string", "bytes": "string"}


@dataclass(frozen=True)
class DType:
    """A resolved column type.

    Attributes:
        kind: One of :data:`~aetherflow.runner.database.LOGICAL_TYPES`.
        precision: Decimal precision (None: not known yet).
        scale: Decimal scale (None: not known yet).
        tz: For ``datetime``: the values carry a time zone (written as UTC timestamps).
    """

    kind: str
    precision: int | None = None
    scale: int | None = None
    tz: bool = False

    @property
    def label(self) -> str:
        """The label emitted in ``dtypes`` outputs (``decimal`` without precision)."""
        return self.kind


def parse_dtype(text: str) -> DType:
    """Parse a ``dtypes`` label: a name of :data:`DTYPE_SYNONYMS` or ``decimal(p[,s])``.

    Raises:
        ValueError: Unknown label or an impossible precision/scale.
    """
    label = text.strip()
    match = _DECIMAL_RE.match(label)
    if match:
        precision = int(match.group(2))
        scale = int(match.group(3) or 0)
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
            raise ValueError(
                f"{text!r}: decimal precision must be 1..{MAX_DECIMAL_PRECISION} and scale at "
                "most the precision"
            )
        return DType("decimal", precision, scale)
    kind = DTYPE_SYNONYMS.get(label.lower())
    if kind is None:
        known = ", ".join(sorted(DTYPE_SYNONYMS))
        raise ValueError(f"unknown dtype {text!r}; use one of {known}, or decimal(p,s)")
    return DType(kind)


def column_dtype(column: Column) -> DType | None:
    """The driver-reported type of ``column`` (None when the driver did not say)."""
    if column.type is None or column.type not in LOGICAL_TYPES:
        return None
    return DType(column.type, column.precision, column.scale)


def _decimal_scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def refine(dtype: DType, values: Sequence[Any]) -> DType:
    """Fill in what the values tell and the type leaves open (decimal scale, datetime zone)."""
    if dtype.kind == "decimal" and dtype.scale is None:
        scales = [_decimal_scale(v) for v in values if isinstance(v, Decimal) and v.is_finite()]
        precision = dtype.precision or MAX_DECIMAL128_PRECISION
        scale = min(max(scales, default=0), precision)
        return replace(dtype, precision=precision, scale=scale)
    if dtype.kind == "decimal" and dtype.precision is None:
        return replace(dtype, precision=max(MAX_DECIMAL128_PRECISION, dtype.scale or 0))
    if dtype.kind == "datetime":
        first = next((v for v in values if v is not None and hasattr(v, "tzinfo")), None)
        if first is not None and first.tzinfo is not None:
            return replace(dtype, tz=True)
    return dtype


class TypeTracker:
    """Resolves each column's type: declared, reported, else from the first non-null value.

    Columns still unknown are looked for in every batch given to :meth:`observe` (cheap: only
    unknown columns are scanned, and only until a non-null value shows up).
    """

    def __init__(self, columns: Sequence[Column], declared: dict[str, DType]) -> None:
        self.names = [c.name for c in columns]
        self.types: list[DType | None] = [declared.get(c.name) or column_dtype(c) for c in columns]
        self._pending = [i for i, t in enumerate(self.types) if t is None]

    def observe(self, batch: Sequence[Row]) -> None:
        """Look for the first non-null value of every column whose type is still unknown."""
        if not self._pending or not batch:
            return
        still: list[int] = []
        for index in self._pending:
            found = next((row[index] for row in batch if row[index] is not None), None)
            kind = infer_type(found)
            if kind is None:
                still.append(index)
            else:
                self.types[index] = DType(kind)
        self._pending = still

    def labels(self) -> dict[str, str]:
        """``{column: label}``; unknown (null-only) columns are ``string``."""
        return {
            n: (t.label if t else "string") for n, t in zip(self.names, self.types, strict=True)
        }

    def kinds(self) -> list[str | None]:
        """The logical kind of each column, None when unknown."""
        return [t.kind if t else None for t in self.types]
