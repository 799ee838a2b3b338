"""The callbacks through which a job reports: progress and one-line notes.

Jobs never print. They call ``progress(stage, done, total)`` and
``warn(message)``; the command line turns these into progress bars and yellow
lines, tests collect them, and the defaults below show nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: ``done`` of ``total`` items of ``stage`` are finished."""
Warn = Callable[[str], None]
"""``warn(message)``: a one-line note for the user; the job goes on."""


def no_progress(stage: str, done: int, total: int) -> None:
    """A :data:`Progress` that shows nothing."""


def no_warn(message: str) -> None:
    """A :data:`Warn` that shows nothing."""
