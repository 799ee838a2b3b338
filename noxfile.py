"""Automation: ``nox -s tests`` runs the test suite, ``nox -s lint`` runs ruff,
``nox -s typecheck`` runs mypy,
``nox -s readme`` runs the README's first command (install + demo) as written."""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Install the package with its test extras and run pytest."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style, formatting and common bugs with ruff."""
    session.install("ruff>=0.5")
    paths = ("assurexray", "tests", "benchmarks", "docs", "noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy (settings in pyproject.toml)."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


def readme_commands() -> list[str]:
    """The commands of the README's first code block, comments removed."""
    text = Path("README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    if block is None:
        raise ValueError("README.md has no bash code block")
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


@nox.session(python="3.11")
def readme(session: nox.Session) -> None:
    """Run the README's first command (install and demo) exactly as a new user would."""
    session.run("bash", "-euo", "pipefail", "-c", readme_commands()[0], external=True)
