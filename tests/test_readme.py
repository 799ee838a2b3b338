"""The README's two commands are the ones CI runs, so they cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _noxfile():
    spec = importlib.util.spec_from_file_location("noxfile", REPO / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_commands_are_install_demo_and_tests(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    first, second = _noxfile().readme_commands()[:2]
    assert first == "pip install -e . && assurexray demo"
    assert second == "pip install nox && nox -s tests"


def test_ci_runs_both() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert "nox -s tests" in script and "nox -s readme" in script
