"""No import cycles among the modules of engine/, training/ and blender_prnet/.

Every import statement counts, also one inside a function: a lazy import still ties the two
modules together (neither can be read, moved or tested without the other). The graph is
built from the source with ``ast``, so the test needs neither torch nor bpy.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "training", "blender_prnet")


def package_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _ours(dotted: str | None, modules: dict[str, Path]) -> str | None:
    """The module itself if it is one of ours, else its nearest enclosing package of ours."""
    while dotted:
        if dotted in modules:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_ours(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                parts = package[:len(package) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:  # `from pkg import module` imports that module
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _ours(base, modules))
    found.discard(None)
    found.discard(name)
    return found  # type: ignore[return-value]


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles as closed paths: in every strongly connected group of modules (Tarjan), the
    shortest cycle through each member, each cycle once."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles: list[list[str]] = []
    for group in groups:
        for member in sorted(group):
            cycle = _shortest_cycle(member, group, graph)[:-1]
            first = cycle.index(min(cycle))  # the same cycle from another member: once
            cycle = cycle[first:] + cycle[:first] + [cycle[first]]
            if cycle not in cycles:
                cycles.append(cycle)
    return cycles


def _shortest_cycle(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest closed path from ``start`` within its strongly connected group."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return paths[node] + [start]
                if target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"p": {"s", "u"}, "s": {"p"}, "u": {"s"}}) == [["p", "s", "p"],
                                                                       ["p", "u", "s", "p"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_relative_imports_resolve_to_our_modules():
    graph = import_graph()
    assert "training.groundtruth" in graph["training.synthetic.sample"]
    assert "training.metrics" in graph["training.evaluate.scoring"]      # from .. import metrics
    assert "engine.errors" in graph["engine.tf_checkpoint.bundle"]        # from ..errors import


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)
