"""``prefetched``: a second thread reads ahead, in order, at most ``depth`` items; errors reach
the consumer where they happened; leaving early stops and joins the thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from aetherflow.steps.db_source import prefetched


def test_items_arrive_in_order() -> None:
    with prefetched(iter(range(100)), depth=3) as items:
        assert list(items) == list(range(100))


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise NotImplementedError("mixed types")

    seen = []
    with pytest.raises(NotImplementedError, match="mixed types"), prefetched(source()) as items:
        seen.extend(items)
    assert seen == [1, 2]


def test_leaving_early_stops_the_reader_within_depth() -> None:
    produced = []
    ready = threading.Event()

    def source() -> Iterator[int]:
        for number in range(1000):
            produced.append(number)
            if number == 3:
                ready.set()
            yield number

    with prefetched(source(), depth=2) as items:
        assert next(items) == 0
        ready.wait(timeout=5)
    assert not any(t.name == "aetherflow-prefetch" for t in threading.enumerate())
    assert produced == [0, 1, 2, 3]  # one consumed, two queued, one waiting for a slot
