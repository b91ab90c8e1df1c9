"""The rules of the house: the host knows no plugin, and modules stay small enough to read in one go."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOST_MODULES = sorted((REPO / "seqkit").rglob("*.py"))
ALL_MODULES = HOST_MODULES + sorted((REPO / "plugins").rglob("*.py"))
#: Modules allowed past the size limit, and why: the ABC checker is one reader of the notation.
LARGE_BY_DESIGN = {"plugins/abc/check.py"}
MAX_LINES = 400


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", HOST_MODULES, ids=lambda path: str(path.relative_to(REPO)))
def test_no_host_module_imports_a_plugin(path):
    plugins = sorted(name for name in imported_modules(path) if name.startswith("seqkit.plugins"))
    assert not plugins, f"{path.relative_to(REPO)} imports {plugins}; reach plugins through the registry"


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda path: str(path.relative_to(REPO)))
def test_modules_stay_small_and_say_what_they_are_for(path):
    relative = str(path.relative_to(REPO))
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert relative in LARGE_BY_DESIGN or lines <= MAX_LINES, f"{relative} has {lines} lines; split it by job"
    assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{relative} has no module docstring"


def test_the_training_loop_reads_in_one_sitting():
    assert len((REPO / "seqkit" / "training" / "loop.py").read_text(encoding="utf-8").splitlines()) <= 250
