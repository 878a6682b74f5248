"""The import arrows of ARCHITECTURE.md, checked on every module (function-level imports too).

foundation (berth_core) <- constructs (berth_constructs) <- stacks <- berth (library modules)
<- berth.commands <- berth.cli; the runtime apps import none of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
OURS = ("berth_core", "berth_constructs", "stacks", "berth")

# What each layer may import of ours (itself included).
ALLOWED = {
    "berth_core": {"berth_core"},
    "berth_constructs": {"berth_core", "berth_constructs"},
    "stacks": {"berth_core", "berth_constructs", "stacks"},
    "berth": {"berth_core", "berth_constructs", "stacks", "berth"},
}


def _modules(package: str) -> list[Path]:
    return sorted((PROJECT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from berth import commands` names a module too.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _top(name: str) -> str:
    return name.split(".", 1)[0]


@pytest.mark.parametrize("package", list(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    wrong = [
        f"{path.relative_to(PROJECT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in OURS and _top(name) not in ALLOWED[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_imports_the_commands() -> None:
    wrong = [
        f"{path.relative_to(PROJECT)}: {name}"
        for path in _modules("berth")
        if "commands" not in path.relative_to(PROJECT).parts
        and path.relative_to(PROJECT).as_posix() != "berth/cli.py"
        for name in _imports(path)
        if name == "berth.commands" or name.startswith(("berth.commands.", "berth.cli"))
    ]
    # __main__ runs the CLI: the one module above it.
    assert wrong == ["berth/__main__.py: berth.cli", "berth/__main__.py: berth.cli.main"]


@pytest.mark.parametrize("app", sorted(p.name for p in (PROJECT / "apps").iterdir() if p.is_dir()))
def test_runtime_apps_import_nothing_of_the_infrastructure(app: str) -> None:
    wrong = [
        f"{path.relative_to(PROJECT)}: {name}"
        for path in sorted((PROJECT / "apps" / app).rglob("*.py"))
        for name in _imports(path)
        if _top(name) in OURS
    ]
    assert not wrong, "\n".join(wrong)


def test_the_layers_exist() -> None:
    # A renamed package would make the checks above vacuous.
    for package in ALLOWED:
        assert len(_modules(package)) > 1, package
