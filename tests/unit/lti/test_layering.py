"""The LTI port is standard library only (plus the domain); jwcrypto stays out of the core."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "exams"
LTI_ADAPTER = sorted((SRC / "adapters" / "lti").glob("*.py"))


def imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_the_lti_port_imports_only_the_standard_library_and_the_domain():
    for name in imported_modules(SRC / "ports" / "lti.py"):
        top = name.split(".")[0]
        assert top == "__future__" or top in sys.stdlib_module_names or name.startswith("exams.domain"), name


@pytest.mark.parametrize("path", LTI_ADAPTER, ids=lambda p: p.name)
def test_the_lti_adapter_stays_in_its_lane(path):
    for name in imported_modules(path):
        top = name.split(".")[0]
        assert top not in {"pyramid", "sqlalchemy", "dependency_injector", "requests", "jwt"}, name
        if name.startswith("exams."):
            assert name.startswith(("exams.adapters.lti", "exams.ports", "exams.domain")), name


def test_the_core_never_imports_jwcrypto():
    for package in ("domain", "ports", "services"):
        for path in (SRC / package).rglob("*.py"):
            assert not any(n.split(".")[0] == "jwcrypto" for n in imported_modules(path)), path


def test_the_adapter_methods_match_the_port_signatures():
    import inspect

    from exams.adapters.lti import JwcryptoLtiPlatform, UrllibKeysetFetcher
    from exams.ports.lti import KeysetFetcher, LtiPlatform

    for port, adapter in ((LtiPlatform, JwcryptoLtiPlatform), (KeysetFetcher, UrllibKeysetFetcher)):
        for name, member in vars(port).items():
            if name.startswith("_") or not callable(member):
                continue
            expected = [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]
            actual = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(adapter, name)).parameters.values()]
            assert actual == expected, f"{adapter.__name__}.{name}"
