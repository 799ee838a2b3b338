"""Command line: the Typer app, shared option declarations, terminal output and printers.

``assurexray.cli:app`` (the console script's entry point before the package was
grouped by stage) still resolves to :data:`assurexray.cli.main.app`.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from assurexray.cli.main import app

        return app
    raise AttributeError(f"module 'assurexray.cli' has no attribute {name!r}")
