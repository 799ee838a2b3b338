"""The one place scores and exception messages become text."""

from __future__ import annotations

from assurexray.core.text import first_line, number, percent


def test_first_line_takes_the_first_non_empty_line() -> None:
    assert first_line(ValueError("\n  bad header  \nmore context")) == "bad header"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(OSError("x" * 500)) == "x" * 200


def test_numbers_and_shares_read_the_same_everywhere() -> None:
    assert percent(0.873) == "87%" and percent(0.873, 1) == "87.3%"
    assert number(0.8734) == "0.87" and number(0.8734, 3) == "0.873"
    assert percent(None) == number(None) == "n/a"
    assert number(-0.0001, 3) == "0.000" and number(-0.002, 3) == "-0.002"
    assert percent(-0.001) == "0%" and percent(-0.01) == "-1%"
