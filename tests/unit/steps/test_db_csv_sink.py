"""``CsvSink`` writes a batch with one ``writerows`` (and a second pass with the internal line
terminator only when a field holds CR or LF that ``linefeed`` lacks): its bytes equal a plain
row-by-row rendering with the internal terminator, for random values and every dialect."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.errors import StepError
from aetherflow.steps.db_inputs import QUOTING, CsvOptions
from aetherflow.steps.db_writers import CsvSink, internal_terminator

DIALECTS = [
    CsvOptions("utf-8", ",", '"', None, True, "minimal", "\n", True),
    CsvOptions("utf-8", "\t", '"', None, True, "minimal", "\n", True),
    CsvOptions("utf-8", ",", '"', None, True, "all", "\r\n", True),
    CsvOptions("utf-8", ",", '"', None, True, "nonnumeric", "\r", True),
    CsvOptions("utf-8", "|", "'", None, True, "minimal", ";", True),
    CsvOptions("utf-8", ",", '"', "\\", False, "minimal", "\n", True),
    CsvOptions("utf-8", ",", '"', "\\", True, "none", "\n", True),
    CsvOptions("utf-16", ",", '"', None, True, "minimal", "\n", True),
]
TEXT = st.text(alphabet=st.sampled_from(list(",\"'\n\r\t;|\\ aé✓")), max_size=6)
ROWS = st.lists(
    st.tuples(
        st.none() | TEXT,
        st.none() | st.integers(min_value=-(10**20), max_value=10**20),
        st.none() | st.floats(),
    ),
    min_size=1,
    max_size=20,
)


def row_by_row(rows: list[tuple[Any, ...]], options: CsvOptions) -> bytes:
    """Each row rendered with the internal terminator, which is then replaced by ``linefeed``."""
    internal = internal_terminator(options.linefeed)
    parts: list[str] = []

    class Lines:
        def write(self, text: str) -> int:
            parts.append(text[: -len(internal)] + options.linefeed)
            return len(text)

    writer = csv.writer(
        Lines(),
        delimiter=options.delimiter,
        quotechar=options.quotechar,
        escapechar=options.escapechar,
        doublequote=options.doublequote,
        quoting=QUOTING[options.quoting],
        lineterminator=internal,
    )
    writer.writerows(rows)
    return "".join(parts).encode(options.encoding)


def sink_bytes(rows: list[tuple[Any, ...]], options: CsvOptions) -> bytes:
    target = io.BytesIO()
    CsvSink(target, options).write(rows)
    return target.getvalue()


@settings(max_examples=400, deadline=None)
@given(rows=ROWS, options=st.sampled_from(DIALECTS))
def test_a_batch_is_the_rows_written_one_by_one(
    rows: list[tuple[Any, ...]], options: CsvOptions
) -> None:
    assert sink_bytes(rows, options) == row_by_row(rows, options)


@pytest.mark.parametrize(
    "value",
    ["lone\rcr", "ends in cr\r", "holds\n\rthe terminator", "\n\r", "plain"],
)
@pytest.mark.parametrize("options", DIALECTS[:5], ids=lambda o: repr(o.linefeed))
def test_line_breaks_inside_fields(value: str, options: CsvOptions) -> None:
    rows = [(value, 1, None), ("x", 2, 0.5), (value, None, None)]
    assert sink_bytes(rows, options) == row_by_row(rows, options)


def test_quoting_none_without_escapechar_still_refuses_a_lone_cr() -> None:
    options = CsvOptions("utf-8", ",", '"', None, True, "none", "\n", True)
    with pytest.raises(StepError, match="CSV writer"):
        sink_bytes([("a\rb", 1, None)], options)
