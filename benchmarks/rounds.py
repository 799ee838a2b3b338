"""Timing approaches in turns, as every benchmark here does.

Imported by the scripts beside it (``python benchmarks/<script>.py`` puts
this folder first on ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def time_in_turns(
    approaches: dict[str, Callable[[], object]], repeats: int
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Warm every approach up once, then time them in turn for ``repeats`` rounds.

    Taking turns spreads the load of other programs over all approaches alike.

    Returns:
        The wall-clock seconds of every approach in each round, and the least
        CPU time of each over the rounds (all threads of this process: the
        work done, which a busy machine disturbs less than the wall clock).
    """
    for run in approaches.values():  # warm-up: first reads from disk, first forward
        run()
    rounds: list[dict[str, float]] = []
    cpu = {name: float("inf") for name in approaches}
    for _ in range(repeats):
        timings = {}
        for name, run in approaches.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            timings[name] = time.perf_counter() - start
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
        rounds.append(timings)
    return rounds, cpu
