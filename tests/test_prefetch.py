"""The background batch stream: order, running ahead, errors in place, early stop, the lock."""

from __future__ import annotations

import threading

import pytest

from assurexray.engine.prefetch import prefetch


def test_items_come_prepared_and_in_order():
    lock = threading.Lock()
    assert list(prefetch(iter(range(5)), lock, lambda x: x * 10)) == [0, 10, 20, 30, 40]
    assert list(prefetch([], lock, lambda x: x)) == []


def test_the_next_item_is_made_while_the_consumer_works():
    made_second = threading.Event()

    def source():
        yield 0
        made_second.set()
        yield 1

    stream = prefetch(source(), threading.Lock(), lambda x: x)
    assert next(stream) == 0
    assert made_second.wait(timeout=10)  # not asked for yet: made in the background
    assert list(stream) == [1]


def test_every_step_runs_under_the_lock():
    lock = threading.Lock()
    seen = []

    def source():
        for i in range(3):
            seen.append(lock.locked())
            yield i

    assert list(prefetch(source(), lock, lambda x: (x, lock.locked()))) == [
        (0, True),
        (1, True),
        (2, True),
    ]
    assert seen == [True, True, True]


def test_an_error_in_the_source_is_raised_where_it_happened():
    def source():
        yield 1
        raise KeyboardInterrupt

    stream = prefetch(source(), threading.Lock(), lambda x: x)
    assert next(stream) == 1
    with pytest.raises(KeyboardInterrupt):
        next(stream)


def test_stopping_early_stops_the_producer_and_closes_the_source():
    made, closed = [], threading.Event()

    def source():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetch(source(), threading.Lock(), lambda x: x, ahead=2)
    for item in stream:
        if item == 3:
            break
    stream.close()
    assert closed.is_set()
    assert len(made) <= 4 + 2 + 1  # consumed, queued, and the one in hand


def test_a_stop_inside_prepare_is_an_error_not_the_end():
    def prepare(x):
        if x == 2:
            raise StopIteration  # a bug in prepare must not end the stream quietly
        return x

    stream = prefetch(iter(range(5)), threading.Lock(), prepare)
    assert [next(stream), next(stream)] == [0, 1]
    with pytest.raises((RuntimeError, StopIteration)):
        next(stream)
