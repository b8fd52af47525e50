"""Inputs of the data steps (``db_extract``, ``db_extract_stream``, ``db_fetch_small``).

The predecessor's keys and defaults, plus ``engine``, ``expect``, ``skip_if_empty`` and
``progress_seconds``. File options may be given at the top level or under ``file:`` (the same key
both ways with different values is an error). ``delimiter`` and ``linefeed`` also accept the
escapes ``\\t``, ``\\n``, ``\\r`` and ``\\r\\n`` written literally (YAML single quotes).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aetherflow.spec.base import StrictModel
from aetherflow.steps.db_types import DType, parse_dtype

Quoting = Literal["minimal", "all", "none", "nonnumeric"]
ExtractFormat = Literal["tsv", "csv", "jsonl", "parquet"]
ExpectDtype = Literal["int", "float", "bool", "date", "datetime", "string", "decimal"]
QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "none": csv.QUOTE_NONE,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n"}
FILE_KEYS = (
    "encoding",
    "delimiter",
    "quotechar",
    "escapechar",
    "doublequote",
    "quoting",
    "linefeed",
    "include_header",
)


class FileKeys(StrictModel):
    """The file options (None: not given here)."""

    encoding: str | None = Field(default=None, description="Text encoding (default utf-8).")
    delimiter: str | None = Field(
        default=None, description="One character; default tab for tsv, comma for csv."
    )
    quotechar: str | None = Field(default=None, description='One character (default ").')
    escapechar: str | None = Field(default=None, description="One character (default none).")
    doublequote: bool | None = Field(default=None, description="Double a quote inside a field.")
    quoting: Quoting | None = Field(default=None, description="Default minimal.")
    linefeed: str | None = Field(default=None, description="Line terminator (default \\n).")
    include_header: bool | None = Field(default=None, description="Header line (default true).")

    @field_validator("delimiter", "linefeed", mode="before")
    @classmethod
    def _escapes(cls, value: Any) -> Any:
        return _ESCAPES.get(value, value) if isinstance(value, str) else value

    @field_validator("delimiter", "quotechar", "escapechar")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be exactly one character, got {value!r}")
        return value

    @field_validator("linefeed")
    @classmethod
    def _linefeed(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r}") from exc
        return value


class RequiredColumns(StrictModel):
    """``expect.columns`` as ``{required: [...]}``: these columns must be present."""

    required: list[str] = Field(min_length=1)


class ExpectSpec(StrictModel):
    """Success rules of a data step; a violated rule fails it with class ``expectation``."""

    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    columns: list[str] | RequiredColumns | None = Field(
        default=None, description="The exact ordered column list, or {required: [...]}."
    )
    dtypes: dict[str, ExpectDtype] | None = Field(
        default=None, description="Column → int|float|bool|date|datetime|string|decimal."
    )
    keep_output_on_failure: bool = Field(
        default=False, description="Publish the output file even when a rule is violated."
    )

    @model_validator(mode="after")
    def _bounds(self) -> ExpectSpec:
        low, high = self.min_rows, self.max_rows
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"expect.min_rows ({low}) is above expect.max_rows ({high}); no result can "
                "satisfy both"
            )
        return self


Params = list[Any] | dict[str, Any] | None


class QueryInputs(StrictModel):
    """Inputs every data step has."""

    resource: str = Field(min_length=1, description="A resource of kind db.")
    sql: str = Field(min_length=1, description="The query.")
    params: Params = Field(default=None, description="Query parameters (driver paramstyle).")
    fetch_size: int = Field(default=5000, ge=1, description="Rows per batch read.")
    expect: ExpectSpec | None = None
    skip_if_empty: bool = Field(default=False, description="Zero rows → SKIPPED (`no rows`).")
    progress_seconds: float = Field(
        default=5.0, gt=0, description="Seconds between step_progress events."
    )


def _dtypes_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of column → type")
    if isinstance(value, Mapping):
        for column, label in value.items():
            if not isinstance(label, str):
                raise ValueError(f"column {column!r}: the type must be a string")
            parse_dtype(label)
    return value


class ExtractInputs(QueryInputs, FileKeys):
    """Inputs of ``db_extract`` and ``db_extract_stream``."""

    output: str = Field(min_length=1, description="The file to write (sandboxed).")
    format: ExtractFormat = "tsv"
    file: FileKeys | None = Field(default=None, description="File options (alternative form).")
    dtypes: dict[str, str] | str | None = Field(
        default=None, description="Column → type for Parquet (dict or JSON string)."
    )
    dtypes_json: dict[str, str] | str | None = Field(default=None, description="As dtypes.")
    emit_dtypes: bool = Field(default=False, description="Add dtypes/dtypes_json outputs.")
    engine: Literal["auto", "generic"] = Field(
        default="auto", description="auto: use a driver fast path when one applies."
    )

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("dtypes", "dtypes_json", mode="before")
    @classmethod
    def _dtypes(cls, value: Any) -> Any:
        return _dtypes_value(value)

    @model_validator(mode="after")
    def _no_conflicts(self) -> ExtractInputs:
        if self.file is not None:
            for key in FILE_KEYS:
                top, nested = getattr(self, key), getattr(self.file, key)
                if top is not None and nested is not None and top != nested:
                    raise ValueError(
                        f"{key} is given as {top!r} and as file.{key} {nested!r}; give it once"
                    )
        both = self.dtypes is not None and self.dtypes_json is not None
        raw = self.declared_dtypes_raw
        if both and raw(self.dtypes) != raw(self.dtypes_json):
            raise ValueError("dtypes and dtypes_json are both given and differ; give one")
        return self

    @staticmethod
    def declared_dtypes_raw(value: dict[str, str] | str | None) -> dict[str, str]:
        """``dtypes`` as a dict (a JSON string decoded)."""
        if value is None:
            return {}
        if isinstance(value, str):
            decoded: dict[str, str] = json.loads(value)
            return decoded
        return dict(value)

    def declared_dtypes(self) -> dict[str, DType]:
        """The ``dtypes`` (or ``dtypes_json``) input, parsed."""
        raw = self.declared_dtypes_raw(self.dtypes if self.dtypes is not None else self.dtypes_json)
        return {column: parse_dtype(label) for column, label in raw.items()}

    def file_option(self, key: str) -> Any:
        """A file option as given (top level first, then ``file:``), None when not given."""
        value = getattr(self, key)
        if value is None and self.file is not None:
            value = getattr(self.file, key)
        return value

    def csv_options(self) -> CsvOptions:
        """The file options with the defaults of the format filled in."""

        def pick(key: str, default: Any) -> Any:
            value = self.file_option(key)
            return default if value is None else value

        return CsvOptions(
            encoding=pick("encoding", "utf-8"),
            delimiter=pick("delimiter", "\t" if self.format == "tsv" else ","),
            quotechar=pick("quotechar", '"'),
            escapechar=pick("escapechar", None),
            doublequote=pick("doublequote", True),
            quoting=pick("quoting", "minimal"),
            linefeed=pick("linefeed", "\n"),
            include_header=pick("include_header", True),
        )


class FetchSmallInputs(QueryInputs):
    """Inputs of ``db_fetch_small``."""

    max_rows: int = Field(
        default=50000, ge=0, description="More rows than this fail the step (exactly is fine)."
    )


@dataclass(frozen=True)
class CsvOptions:
    """Resolved file options of one extract."""

    encoding: str
    delimiter: str
    quotechar: str
    escapechar: str | None
    doublequote: bool
    quoting: str
    linefeed: str
    include_header: bool


StaticIssue = tuple[str, tuple[str, ...], str]


def static_issues(inputs: Mapping[str, Any]) -> list[StaticIssue]:
    """Validate-time checks the models cannot express (literal values only)."""
    expect = inputs.get("expect")
    if inputs.get("skip_if_empty") is True and isinstance(expect, Mapping):
        min_rows = expect.get("min_rows")
        if isinstance(min_rows, int) and not isinstance(min_rows, bool) and min_rows >= 1:
            return [
                (
                    "semantic:db_skip_if_empty_unreachable",
                    ("skip_if_empty",),
                    f"expect.min_rows is {min_rows}, so an empty result fails the expectation "
                    "before skip_if_empty can skip it; drop one of the two",
                )
            ]
    return []
