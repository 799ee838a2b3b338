"""The ``assurexray`` command line: options in, library calls, rich output.

No maths here. Heavy imports (torch, timm, cv2) happen inside the command
bodies so that ``assurexray --help`` answers at once.

Exit codes: 0 success; 1 some inputs failed (the rest were processed);
2 usage error (bad option, missing file or checkpoint, bad config);
130 interrupted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from assurexray import __version__
from assurexray.errors import AssureXrayError

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="assurexray",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help=(
        "Show where a bone-tumour X-ray classifier looks: predictions with Grad-CAM "
        "heatmaps, galleries of hits and misses, and scores against expert annotations.\n\n"
        "Exit codes: 0 success, 1 some inputs failed, 2 usage error, 130 interrupted."
    ),
)
console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML settings file [default: configs/default.yaml if present]."
    ),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="Model checkpoint (.pt) [default: from the config]."),
]
MethodOption = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Heatmap method: gradcam, gradcam++, hirescam, xgradcam, layercam, "
        "eigencam, scorecam, rollout (ViT) [default: from the config].",
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps [default: from the config]."),
]


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one red line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print one yellow line on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's errors and Ctrl-C into one line and an exit code."""
    try:
        yield
    except AssureXrayError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"assurexray {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Show where a bone-tumour X-ray classifier looks."""


def _not_built(name: str) -> None:
    fail(f"'assurexray {name}' is not built yet")


@app.command()
def infer() -> None:
    """Predict and explain one radiograph or a whole folder."""
    _not_built("infer")


@app.command()
def gallery() -> None:
    """True positives, false positives and false negatives per class, with heatmaps."""
    _not_built("gallery")


@app.command()
def compare() -> None:
    """Score heatmaps against LabelMe tumour annotations."""
    _not_built("compare")


@app.command()
def train() -> None:
    """Train a classifier checkpoint on a data set."""
    _not_built("train")


@app.command()
def demo() -> None:
    """Run the whole chain on a built-in synthetic data set."""
    _not_built("demo")
