"""Finding 11: imported distributions are declared; bounds admit patches; floors clear advisories."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIRST_PARTY = {"modelmesh", "langchain_modelmesh"}


def _requirements() -> dict[str, list[Requirement]]:
    lines = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        lines += extra
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.partition(".")[0])
    return modules - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def test_every_imported_distribution_is_declared() -> None:
    distributions = packages_distributions()
    declared = _requirements()
    undeclared = sorted(
        f"{module} ({', '.join(distributions.get(module, ['?']))})"
        for module in _imported_modules()
        if not any(canonicalize_name(d) in declared for d in distributions.get(module, [module]))
    )
    assert not undeclared


def test_httpx2_is_a_core_dependency() -> None:
    assert "httpx2" in {canonicalize_name(Requirement(line).name) for line in PROJECT["dependencies"]}


@pytest.mark.parametrize(
    ("name", "admitted", "refused"),
    [
        ("langchain-core", ["1.8.3", "1.8.4", "1.8.9"], ["1.7.9"]),
        ("starlette", ["0.47.2", "1.10.0"], ["0.47.1", "0.40.0"]),
        ("h11", ["0.16.0"], ["0.14.0", "0.15.0"]),
    ],
)
def test_bounds_admit_patch_releases_and_floors_clear_advisories(
    name: str, admitted: list[str], refused: list[str]
) -> None:
    requirements = _requirements()[name]
    for version in admitted:
        assert all(Version(version) in r.specifier for r in requirements), version
    for version in refused:
        assert all(Version(version) not in r.specifier for r in requirements), version
