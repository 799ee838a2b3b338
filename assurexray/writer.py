"""Write result files in a background thread while the model works on the next images.

The model thread hands each finished item to :meth:`BackgroundWriter.submit`
and goes on; one writer thread renders the pictures, encodes the PNGs and
writes the files. Outcomes come back in submission order, so the caller
records results in input order. The queue is bounded: the model waits only
when the writer is ``ahead`` items behind, which keeps memory flat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WriteInterrupted(Exception):
    """The run was interrupted before this item's files were written."""


class BackgroundWriter(Generic[T, R]):
    """Run ``write(item)`` for each submitted item in one background thread, in order.

    Example::

        with BackgroundWriter(write_files) as writer:
            for item in items:
                for done, outcome in writer.submit(item):
                    record(done, outcome)  # a result, or the exception it raised
            for done, outcome in writer.finish():  # also after an exception or Ctrl-C
                record(done, outcome)

    Args:
        write: Called in the writer thread; its exceptions are returned as
            outcomes, never raised in the model thread.
        ahead: Items submitted but not yet collected, at most.
    """

    def __init__(self, write: Callable[[T], R], *, ahead: int = 16) -> None:
        self.write, self.ahead = write, max(1, ahead)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assurexray-writer")
        self._pending: deque[tuple[T, Future[R]]] = deque()
        self.interrupted = False

    def submit(self, item: T) -> list[tuple[T, R | Exception]]:
        """Queue ``item``; return the items finished so far with their outcomes, in order."""
        self._pending.append((item, self._pool.submit(self.write, item)))
        finished = []
        while self._pending and (len(self._pending) > self.ahead or self._pending[0][1].done()):
            finished.append(self._collect())
        return finished

    def finish(self) -> list[tuple[T, R | Exception]]:
        """Wait for every queued item and return all outcomes not yet returned, in order.

        If waiting is interrupted (a second Ctrl-C), items not started are
        cancelled, every item not finished comes back with a
        :class:`WriteInterrupted` outcome (so none is lost from the record),
        and :attr:`interrupted` is set for the caller to re-raise.
        """
        finished = []
        try:
            while self._pending:
                finished.append(self._collect())
        except KeyboardInterrupt:
            self.interrupted = True
            reason = WriteInterrupted("interrupted before its files were written")
            for item, future in self._pending:
                future.cancel()
                finished.append((item, reason))
            self._pending.clear()
        self._pool.shutdown(wait=not self.interrupted, cancel_futures=True)
        return finished

    def _collect(self) -> tuple[T, R | Exception]:
        item, future = self._pending[0]
        try:
            outcome: R | Exception = future.result()
        except Exception as exc:  # the writer's failure belongs to this item only
            outcome = exc
        self._pending.popleft()
        return item, outcome

    def __enter__(self) -> BackgroundWriter[T, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
