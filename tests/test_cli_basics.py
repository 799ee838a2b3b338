from __future__ import annotations

import inspect
import subprocess
import sys

from typer.testing import CliRunner

from assurexray import __version__
from assurexray.cli.main import app

runner = CliRunner()


def test_import_does_not_import_torch() -> None:
    code = "import sys, assurexray, assurexray.cli.main; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("infer", "gallery", "compare", "train", "demo"):
        assert command in result.output


def test_version_and_python_dash_m() -> None:
    assert __version__ in runner.invoke(app, ["--version"]).output
    out = subprocess.run(
        [sys.executable, "-m", "assurexray", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"assurexray {__version__}"


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output and result.exit_code == 2  # click: no arguments is misuse


def test_option_defaults_show_in_help() -> None:
    # Square brackets would be eaten as rich markup; the defaults must survive.
    result = runner.invoke(app, ["infer", "--help"], env={"COLUMNS": "200"})
    assert "[default: (from the config)]" in result.output


def test_compare_and_audit_take_the_same_image_choice() -> None:
    from assurexray.cli.options import image_choice_options

    flags = "--annotations --images --data --split --per-class --all --threshold".split()
    assert len(flags) == len(inspect.signature(image_choice_options).parameters)
    for command in ("compare", "audit"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        table = text[text.index("Options") :]
        positions = [table.index(f"│ {flag} ") for flag in flags]
        assert positions == sorted(positions), command  # declared once, in this order
