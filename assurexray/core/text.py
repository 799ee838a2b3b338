"""Text shared by every output: an exception's first line, and scores and shares as text.

The terminal, ``report.html`` and the verdict sentences all format numbers
here, so that a score reads the same wherever it is shown: shares as whole
percentages, scores with two decimals, "n/a" for a value that is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

MISSING = "n/a"
"""How an unknown value (None) is shown."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (at most ``limit`` characters).

    Library errors often span lines (a parser's context, a stack of causes):
    one line is what a user's one-line error can hold. An empty message gives
    the exception's type name. A longer line ends at its last full sentence
    within ``limit`` when it has one, not in the middle of a word.
    """
    for line in str(exc).splitlines():
        if line.strip():
            line = line.strip()
            if len(line) <= limit:
                return line
            end = line.rfind(". ", 0, limit)
            return line[: end + 1] if end > 0 else line[:limit]
    return type(exc).__name__


def percent(value: float | None, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage (``0.873`` → ``"87%"``); "n/a" when unknown.
    What rounds to zero has no sign."""
    return MISSING if value is None else f"{value:z.{digits}%}"


def number(value: float | None, digits: int = 2) -> str:
    """A score with ``digits`` decimals; "n/a" when unknown. What rounds to zero has no
    sign (``-0.0001`` → ``"0.000"``, not ``"-0.000"``)."""
    return MISSING if value is None else f"{value:z.{digits}f}"


def with_interval(
    value: float | None,
    bounds: Sequence[float | None] | None,
    *,
    as_percent: bool = False,
    digits: int | None = None,
) -> str:
    """``value`` followed by its confidence interval in brackets, when one is given.

    ``digits``: decimals (default: none for a percentage, two for a score).
    """
    places = (0 if as_percent else 2) if digits is None else digits
    show = percent if as_percent else number
    text = show(value, places)
    if bounds and len(bounds) == 2 and None not in bounds:
        text += f" [{show(bounds[0], places)}–{show(bounds[1], places)}]"
    return text
