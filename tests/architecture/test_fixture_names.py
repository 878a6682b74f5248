"""No fixture shadows a conftest fixture: a name means one thing wherever a test asks for it.

pytest lets a test module (or a deeper conftest) define a fixture under a name that a conftest
above it already defines; the nearer one silently wins, with whatever shape it has. Read from the
source (function-level definitions included), as tests/conftest.py files and the test modules
are, so that a new shadow fails here and names both places.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
PROJECT = TESTS.parent


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "fixture"
    return isinstance(target, ast.Name) and target.id == "fixture"


def _fixture_name(function: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr) -> str:
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return function.name


def defined_fixtures(path: Path) -> set[str]:
    """The fixtures a file defines or, for support modules' fixtures, imports by name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names |= {_fixture_name(node, d) for d in node.decorator_list if _is_fixture(d)}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
            source = PROJECT / (node.module.replace(".", "/") + ".py")
            if source.exists():
                offered = defined_fixtures(source)
                names |= {
                    alias.asname or alias.name for alias in node.names if alias.name in offered
                }
    return names


def conftest_fixtures(root: Path) -> dict[Path, set[str]]:
    """Each conftest's folder and the fixtures it offers to everything below it."""
    return {path.parent: defined_fixtures(path) for path in sorted(root.rglob("conftest.py"))}


def shadows(root: Path) -> list[str]:
    """Every fixture of a file below `root` named like one of a conftest that reaches it."""
    conftests = conftest_fixtures(root)
    found = []
    for path in sorted(p for p in root.rglob("*.py") if "__snapshots__" not in p.parts):
        # A conftest is shadowed by the conftests above it; a module by its own folder's too.
        reaching = [
            folder
            for folder in conftests
            if folder in path.parent.parents
            or (folder == path.parent and path.name != "conftest.py")
        ]
        for name in sorted(defined_fixtures(path)):
            found += [
                f"{path.relative_to(root)}: fixture {name!r} shadows the one in "
                f"{(folder / 'conftest.py').relative_to(root)}"
                for folder in reaching
                if name in conftests[folder]
            ]
    return found


def test_no_fixture_shadows_a_conftest_fixture() -> None:
    assert shadows(TESTS) == []


def test_a_shadow_is_found_and_named(tmp_path: Path) -> None:
    fixture = "import pytest\n\n\n@pytest.fixture{}\ndef {}() -> int:\n    return 1\n"
    (tmp_path / "conftest.py").write_text(fixture.format('(scope="session")', "synthesized"))
    (tmp_path / "constructs").mkdir()
    (tmp_path / "constructs" / "conftest.py").write_text(fixture.format("", "stack"))
    (tmp_path / "constructs" / "test_a.py").write_text(
        fixture.format('(scope="module")', "synthesized") + fixture.format("", "stack")
    )
    (tmp_path / "constructs" / "test_b.py").write_text(fixture.format("", "unshadowed"))
    (tmp_path / "test_c.py").write_text(fixture.format('(name="synthesized")', "renamed"))
    assert shadows(tmp_path) == [
        "constructs/test_a.py: fixture 'stack' shadows the one in constructs/conftest.py",
        "constructs/test_a.py: fixture 'synthesized' shadows the one in conftest.py",
        "test_c.py: fixture 'synthesized' shadows the one in conftest.py",
    ]


@pytest.mark.parametrize("name", ["synthesized", "moto_server", "aws_session"])
def test_session_fixtures_are_defined_once(name: str) -> None:
    owners = [folder for folder, names in conftest_fixtures(TESTS).items() if name in names]
    assert owners == [TESTS]
