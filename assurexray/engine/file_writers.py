"""Write result files in background threads, beside the model or in turns with it.

The model thread hands each finished item to :meth:`BackgroundWriter.submit`;
writer threads render the pictures, encode the PNGs and write the files.
Outcomes come back in submission order, so the caller records results in
input order. The queue is bounded: the model waits when the writers are
``ahead`` items behind, which keeps memory flat.

:func:`plan_writers` decides how many writer threads run and whether they
take turns with the model (:meth:`BackgroundWriter.drain` after each batch).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WriteInterrupted(Exception):
    """The run was interrupted before this item's files were written."""


@dataclass(frozen=True)
class WriterPlan:
    """How result files are written: ``threads`` writer threads, in turns with the model or not."""

    threads: int
    take_turns: bool


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def plan_writers(*, on_cpu: bool, model_threads: int, cores: int) -> WriterPlan:
    """Writers for a model on the CPU (using ``model_threads`` of ``cores``) or on a GPU.

    * A CPU model using every core: the writers take turns with it, as many
      as its threads. Beside it, they would take cores its threads wait on
      each other for: on 2 cores, 48 BTXRD radiographs took 1.97 s that way
      against 1.70 s in turns (``benchmarks/bench_infer.py --writers-beside``).
    * A CPU model leaving cores free: that many writers (at most 4), beside it.
    * A GPU model: half the cores write beside it (at most 4); the other
      half decode the images and feed the GPU. Not measured here (no GPU).
    """
    if not on_cpu:
        return WriterPlan(threads=max(1, min(4, cores // 2)), take_turns=False)
    free = cores - model_threads
    if free > 0:
        return WriterPlan(threads=min(4, free), take_turns=False)
    return WriterPlan(threads=max(1, model_threads), take_turns=True)


class BackgroundWriter(Generic[T, R]):
    """Run ``write(item)`` for each submitted item in background threads; outcomes in order.

    Example::

        with BackgroundWriter(write_files) as writer:
            for item in items:
                for done, outcome in writer.submit(item):
                    record(done, outcome)  # a result, or the exception it raised
            for done, outcome in writer.finish():  # also after an exception or Ctrl-C
                record(done, outcome)

    Args:
        write: Called in a writer thread; its exceptions are returned as
            outcomes, never raised in the model thread. With several
            threads, calls for different items run at the same time.
        ahead: Items submitted but not yet collected, at most.
        threads: Writer threads.
    """

    def __init__(self, write: Callable[[T], R], *, ahead: int = 16, threads: int = 1) -> None:
        self.write, self.ahead = write, max(1, ahead)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, threads), thread_name_prefix="assurexray-writer"
        )
        self._pending: deque[tuple[T, Future[R]]] = deque()
        self.interrupted = False

    def submit(self, item: T) -> list[tuple[T, R | Exception]]:
        """Queue ``item``; return the items finished so far with their outcomes, in order."""
        self._pending.append((item, self._pool.submit(self.write, item)))
        finished = []
        while self._pending and (len(self._pending) > self.ahead or self._pending[0][1].done()):
            finished.append(self._collect())
        return finished

    def drain(self) -> list[tuple[T, R | Exception]]:
        """Wait until every queued item is written; return the outcomes not yet returned."""
        return [self._collect() for _ in range(len(self._pending))]

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
