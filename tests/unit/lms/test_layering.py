"""The event port is standard library only (and other ports); the adapter imports no other adapter or framework."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "exams"


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_the_events_port_imports_only_the_standard_library():
    for name in imported_modules(SRC / "ports" / "events.py"):
        top = name.split(".")[0]
        assert top == "__future__" or top in sys.stdlib_module_names or name.startswith("exams.ports."), name


@pytest.mark.parametrize("path", sorted((SRC / "adapters" / "lms").glob("*.py")), ids=lambda p: p.name)
def test_the_lms_adapter_stays_in_its_lane(path):
    for name in imported_modules(path):
        top = name.split(".")[0]
        assert top not in {"pyramid", "sqlalchemy", "dependency_injector", "django"}, name
        if name.startswith("exams.adapters."):
            assert name.startswith("exams.adapters.lms"), name
