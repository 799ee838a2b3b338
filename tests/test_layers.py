"""The package's layering: every import points down the pipeline, and none forms a cycle.

Every import counts: at module level, inside functions (lazy imports) and under
``TYPE_CHECKING``, since each of them ties two modules together all the same.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import assurexray

LAYERS = (
    "core",
    "imaging",
    "annotations",
    "data",
    "models",
    "explain",
    "evaluation",
    "reporting",
    "engine",
    "inference",
    "training",
    "localisation",
    "audit",
    "shortcuts",
    "demo",
    "cli",
)
"""The subpackages from the bottom up: a module may import its own subpackage and lower ones."""
TOP_LEVEL = {"assurexray", "assurexray.__main__", "assurexray._moved"}


def _modules() -> dict[str, Path]:
    found = {}
    for info in pkgutil.walk_packages(assurexray.__path__, "assurexray."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None
        found[info.name] = Path(spec.origin)
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in known and t != name}


def _layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_every_module_sits_in_a_layer() -> None:
    loose = sorted(n for n in _modules() if _layer(n) is None and n not in TOP_LEVEL)
    assert not loose, f"modules outside the layer folders: {loose}"


def test_no_import_points_up() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if (low := _layer(source)) is not None
        and (high := _layer(target)) is not None
        and high > low
    ]
    assert not upward, "imports of a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_what_they_look_for() -> None:
    """The walker finds lazy and TYPE_CHECKING imports, so a hidden cycle cannot pass."""
    graph = _graph()
    assert "assurexray.imaging.dicom" in graph["assurexray.imaging.reading"]  # in a function
    assert "assurexray.audit.options" in graph["assurexray.audit.report"]  # TYPE_CHECKING
    assert _layer("assurexray.cli.main") > _layer("assurexray.core.errors")  # type: ignore[operator]


def test_the_documented_layer_order_is_this_one() -> None:
    text = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert " < ".join(LAYERS) in text
