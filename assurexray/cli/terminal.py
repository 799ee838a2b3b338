"""The terminal's means: one-line errors and warnings, exit codes, progress bars.

What each job's result looks like is printed by :mod:`assurexray.cli.printers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from assurexray.core.errors import AssureXrayError
from assurexray.core.naming import printable

EXIT_PARTIAL = 1  # some inputs failed; the others were processed
EXIT_USAGE = 2  # bad option, missing file or checkpoint, bad config
EXIT_INTERRUPTED = 130  # Ctrl-C; whatever was finished is written
console = Console()
err_console = Console(stderr=True)


def text(value: Any) -> str:
    """``value`` as literal rich text: markup escaped, undecodable bytes as ``\\xNN``.

    Everything printed that comes from data (class names, file names, messages
    naming files) goes through here, so a class called ``[bold]x`` prints as is.
    """
    return escape(printable(value))


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one red line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {text(message)}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's errors and Ctrl-C into one line and an exit code."""
    try:
        yield
    except AssureXrayError as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. an output folder that cannot be written
        where = exc.filename or "file system"
        fail(f"{where}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def warn(message: str) -> None:
    """Print one yellow line on stderr (the jobs' ``warn`` callback)."""
    err_console.print(f"[yellow]warning:[/yellow] {text(message)}", soft_wrap=True)


def show_failures(errors: list[str]) -> None:
    """One red ``failed:`` line per input that could not be used."""
    for error in errors:
        err_console.print(f"[red]failed:[/red] {text(error)}", soft_wrap=True)


@contextmanager
def progress_bars(*, transient: bool = False) -> Iterator[Any]:
    """A jobs' ``progress(stage, done, total)`` callback drawing one rich bar per stage."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    labels = {
        "predict": "Predicting",
        "explain": "Explaining",
        "compare": "Scoring",
        "prepare": "Preparing images",
        "train": "Training",
        "generate": "Generating phantoms",
    }
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            elif done <= 1:  # the stage starts again (a new epoch, the next job)
                bar.reset(tasks[stage], total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def exit_for(result: Any) -> None:
    """Exit 130 if the run was interrupted, 1 if some inputs failed; else return (exit 0)."""
    if getattr(result, "interrupted", False):
        raise typer.Exit(EXIT_INTERRUPTED)
    if getattr(result, "failures", None):
        raise typer.Exit(EXIT_PARTIAL)
