"""The house rules the docs claim, checked on the source: module sizes and openings, which
package may import which, where SQL and the Docker SDK live, one exception module per
package, and no import cycles (those under `TYPE_CHECKING` included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import REPOSITORY

#: Each package and the folder it lives in.
PACKAGES = {
    "wharf": REPOSITORY / "client" / "wharf",
    "wharf_gateway": REPOSITORY / "gateway" / "wharf_gateway",
    "wharf_runner": REPOSITORY / "runner" / "wharf_runner",
}
#: Where each package's exceptions are defined.
ERROR_MODULES = {"wharf": "wharf._errors", "wharf_gateway": "wharf_gateway.errors"}
ERROR_MODULES["wharf_runner"] = "wharf_runner.errors"
MAX_MODULE_LINES = 500


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found.append(Module(".".join(parts), path, ast.parse(path.read_text())))
    return tuple(found)


def imported_names(module: Module) -> Iterator[str]:
    """Every module `module` imports (`from a.b import c` names `a.b.c` where that is a module
    of ours, else `a.b`), at any depth of the file, `TYPE_CHECKING` blocks included."""
    ours = {m.name for m in modules()}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield candidate if candidate in ours else node.module


def test_modules_stay_under_the_size_limit_and_open_with_what_they_hold() -> None:
    for module in modules():
        lines = len(module.path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{module.path} has {lines} lines"
        assert ast.get_docstring(module.tree), f"{module.path} has no docstring"
        future = [
            n
            for n in module.tree.body
            if isinstance(n, ast.ImportFrom) and n.module == "__future__"
        ]
        assert future or not module.tree.body[1:], f"{module.path} lacks __future__ annotations"


def test_dependencies_point_one_way() -> None:
    for module in modules():
        for name in imported_names(module):
            top = name.split(".")[0]
            if module.package == "wharf":
                assert top not in ("wharf_gateway", "wharf_runner"), (module.name, name)
            if module.package == "wharf_runner":
                assert top != "wharf_gateway", (module.name, name)
            if module.package != "wharf" and top == "wharf":
                private = any(part.startswith("_") for part in name.split(".")[1:])
                assert not private, f"{module.name} imports the SDK's private {name}"
            if module.package == "wharf_gateway" and top == "wharf_runner":
                assert name == "wharf_runner", f"{module.name} reaches into {name}"


def test_sql_and_the_docker_sdk_each_live_in_one_place() -> None:
    docker_users = set()
    for module in modules():
        for name in imported_names(module):
            top = name.split(".")[0]
            if top in ("sqlite3", "aiosqlite"):
                assert module.name.startswith("wharf_gateway.storage."), module.name
            if top == "docker":
                docker_users.add(module.name)
    assert len(docker_users) == 1, docker_users


def _defines_exception(node: ast.ClassDef, known: set[str]) -> bool:
    bases = {ast.unparse(base).split(".")[-1] for base in node.bases}
    return bool(bases & known) or any(base.endswith(("Error", "Exception")) for base in bases)


def test_each_package_defines_its_exceptions_in_one_module() -> None:
    for package in PACKAGES:
        errors = next(m for m in modules() if m.name == ERROR_MODULES[package])
        known = {"Exception"} | {
            n.name for n in ast.walk(errors.tree) if isinstance(n, ast.ClassDef)
        }
        for module in modules():
            if module.package != package or module is errors:
                continue
            for node in ast.walk(module.tree):
                if isinstance(node, ast.ClassDef) and _defines_exception(node, known):
                    pytest.fail(f"{module.name} defines the exception {node.name}")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_module_imports_itself_through_others() -> None:
    ours = {m.name for m in modules()}
    graph = {
        module.name: {name for name in imported_names(module) if name in ours} - {module.name}
        for module in modules()
    }
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]  # the check itself can fail
