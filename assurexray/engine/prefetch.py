"""Run a batch stream one step ahead in a background thread.

A job that does CPU work on each batch (the shortcut analysis: artefact detection,
attention, inpainting) leaves a core idle while it works, and the model idle too.
:func:`prefetch` lets the next batch be decoded and passed through the model meanwhile.
Every step of the source runs while holding ``lock``; the consumer holds the same lock when
it uses the model itself, so the two never run the model (or its hooks) at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()
_POLL_SECONDS = 0.05


def prefetch(
    source: Iterable[T],
    lock: threading.Lock,
    prepare: Callable[[T], U],
    *,
    ahead: int = 1,
) -> Iterator[U]:
    """Yield ``prepare(item)`` for each item of ``source``, made up to ``ahead`` items early.

    ``next(source)`` and ``prepare`` run in one background thread, under ``lock``. An
    exception there is raised here, at the item where it happened. When the consumer stops
    early (an exception, Ctrl-C, or closing this generator), the producer finishes the step
    it is in and stops; nothing more is read from ``source``.
    """
    items: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def offer(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(source)
        try:
            while not stop.is_set():
                with lock:
                    try:
                        item = next(iterator)
                    except StopIteration:
                        break
                    made = prepare(item)  # a StopIteration raised here is an error, not the end
                if not offer((True, made)):
                    return
            offer((True, _DONE))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((False, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="assurexray-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, value = items.get()
            if not ok:
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        worker.join()
