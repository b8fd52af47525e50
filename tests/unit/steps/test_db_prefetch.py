"""``prefetched``: a second thread reads ahead, in order, at most ``depth`` items; errors reach
the consumer where they happened; leaving early stops and joins the thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from aetherflow.runner.database import StagedBatches
from aetherflow.steps.db_source import prefetched, read_ahead


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


def test_staged_batches_are_read_on_the_second_thread_and_finished_on_this_one() -> None:
    read_on: list[str] = []
    finished_on: list[str] = []

    def raw() -> Iterator[int]:
        for number in range(5):
            read_on.append(threading.current_thread().name)
            yield number

    def finish(number: int) -> int:
        finished_on.append(threading.current_thread().name)
        return number * 10

    with read_ahead(StagedBatches(raw(), finish)) as items:
        assert list(items) == [0, 10, 20, 30, 40]
    assert set(read_on) == {"aetherflow-prefetch"}
    assert set(finished_on) == {threading.current_thread().name}


def test_a_finishing_error_reaches_the_consumer_after_the_batches_before_it() -> None:
    def finish(number: int) -> int:
        if number == 2:
            raise NotImplementedError("holds text and integer values")
        return number

    seen: list[int] = []
    with (
        pytest.raises(NotImplementedError, match="text and integer"),
        read_ahead(StagedBatches(iter(range(5)), finish)) as items,
    ):
        seen.extend(items)
    assert seen == [0, 1]
    assert not any(t.name == "aetherflow-prefetch" for t in threading.enumerate())


def test_plain_iterators_are_read_ahead_whole() -> None:
    with read_ahead(iter(range(4))) as items:
        assert list(items) == [0, 1, 2, 3]


def test_iterating_staged_batches_finishes_each() -> None:
    assert list(StagedBatches(iter([1, 2]), lambda n: -n)) == [-1, -2]
