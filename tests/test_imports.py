"""One import direction: no cycle among autotune's and evaluators' modules, imports in functions included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autotune", "evaluators")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path, module: str) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _parents(target: str, importer: str, modules: set[str]) -> set[str]:
    """The packages Python runs first to import ``target``, less those ``importer`` is inside."""
    parts = target.split(".")
    prefixes = {".".join(parts[:n]) for n in range(1, len(parts))}
    return {p for p in prefixes & modules if not f"{importer}.".startswith(f"{p}.")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of both packages it imports anywhere in its code.

    Importing ``a.b.c`` runs the package ``a.b`` first, so that counts as an import of ``a.b``
    too (unless the importer is inside ``a.b``).
    """
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in files.items():
        package = _package_of(path, module)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            found: set[str | None] = set()
            if isinstance(node, ast.Import):
                found = {_resolve(a.name, modules) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found = {_resolve(base, modules)}
                # ``from pkg import sub`` also imports the submodule pkg.sub when there is one.
                found |= {f"{base}.{a.name}" for a in node.names} & modules
            for target in found - {None, module}:
                assert target is not None
                graph[module] |= {target, *_parents(target, module, modules)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_graph_sees_imports_in_functions_and_relative_ones() -> None:
    graph = import_graph()
    assert "autotune.params" in graph["autotune.space"]
    assert "autotune.passes._registry" in graph["autotune.passes"]  # from ._registry import ...


def test_a_back_import_is_a_cycle() -> None:
    graph = {m: set(deps) for m, deps in import_graph().items()}
    graph["autotune.params"].add("autotune.space")
    assert find_cycle(graph) is not None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_evaluators_do_not_import_autotune() -> None:
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.startswith("autotune")) for m, deps in graph.items()}
    bad = {m: d for m, d in bad.items() if m.startswith("evaluators") and d}
    assert not bad, f"evaluators import autotune: {bad}"


def test_space_is_pure_schema() -> None:
    graph = import_graph()
    kinds = {m for m in graph if m.startswith("autotune.task_kinds")}
    assert graph["autotune.space"] <= {"autotune.params", "autotune.metrics", "autotune.targets", *kinds}
    # the task kinds it validates against declare metrics and call evaluators, nothing of the rest
    reached = set().union(*(graph[m] for m in kinds | {"autotune.metrics"}))
    ours = {m for m in reached if m.startswith("autotune")} - kinds
    assert ours <= {"autotune.metric_spec", "autotune.errors"}, ours


def test_olive_does_not_import_export() -> None:
    olive = {m: deps for m, deps in import_graph().items() if m.startswith("autotune.olive")}
    bad = sorted(m for m, deps in olive.items() if "autotune.export" in deps)
    assert not bad, f"{bad} import autotune.export (the CLI calls export)"
