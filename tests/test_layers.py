"""The package's layering, read from the source (ast): no import cycles, no stage that imports the
loop, the app builder or a command, settings and config that import no stage, and no code in
``voiceskill/commands/`` that anything but the command line's dispatch imports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "voiceskill"
TOP = {"voiceskill.cli", "voiceskill.__main__", "voiceskill.app"}
"""The edges: the command line and the app builder may import anything."""
LOOP = "voiceskill.orchestrator"
BELOW_STAGES = {"voiceskill.settings", "voiceskill.config", "voiceskill.pcm", "voiceskill.errors",
                "voiceskill.text", "voiceskill.files", "voiceskill.cliutil", "voiceskill"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path) -> set[str]:
    """voiceskill modules ``path`` imports at run time (at the top or inside functions; imports
    only for the type checker do not count)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("voiceskill"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0 \
                    and child.module.startswith("voiceskill"):
                found.add(child.module)
                for a in child.names:  # from voiceskill import doctor
                    if (PACKAGE / child.module.removeprefix("voiceskill").strip(".").replace(".", "/")
                            / f"{a.name}.py").exists():
                        found.add(f"{child.module}.{a.name}")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): runtime_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "voiceskill.recognizer" in graph["voiceskill.passes"]   # the walker sees top-level imports
    assert "voiceskill.app" in graph["voiceskill.commands.run"]    # and imports inside functions
    assert "voiceskill.doctor" in graph["voiceskill.commands.doctor"]  # and `from voiceskill import x`


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                walk(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert cycles == []


def test_no_stage_imports_the_loop_the_builder_or_a_command() -> None:
    graph = import_graph()
    wrong = {(name, dep) for name, deps in graph.items() for dep in deps
             if name not in TOP and not name.startswith("voiceskill.commands")
             and (dep in (LOOP, "voiceskill.app", "voiceskill.cli") or dep.startswith("voiceskill.commands"))}
    assert wrong == set()


def test_settings_and_config_import_no_stage() -> None:
    graph = import_graph()
    for name in ("voiceskill.settings", "voiceskill.config", "voiceskill.pcm"):
        assert graph[name] <= BELOW_STAGES, name


def test_nothing_imports_a_command_but_the_dispatch() -> None:
    graph = import_graph()
    wrong = {(name, dep) for name, deps in graph.items() for dep in deps
             if dep.startswith("voiceskill.commands.")}
    assert wrong == set()
    for path in [*REPO.joinpath("tests").glob("*.py"), *REPO.joinpath("benchmarks").glob("*.py")]:
        assert "voiceskill.commands" not in runtime_imports(path) and not any(
            m.startswith("voiceskill.commands.") for m in runtime_imports(path)), path


@pytest.mark.parametrize("name", sorted(set(import_graph()) - {"voiceskill.__main__"}))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)
