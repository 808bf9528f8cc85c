"""Imports go one way: each of autotune's packages imports only its own modules and the layers
below it (README, Layout); evaluators import nothing of autotune; no cycle anywhere, imports in
functions and under TYPE_CHECKING included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autotune", "evaluators")

# autotune's layers, lowest first: a module may import its own package and any lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("autotune.errors", "autotune.files", "autotune.cache"),  # foundation: no autotune import
    ("autotune.targets",),  # where a model trains and runs
    ("autotune.task_kinds",),  # what a task measures (declares metrics, calls evaluators)
    ("autotune.space",),  # the schema of a space file
    ("autotune.inputs",),  # data and models read as the schema says
    ("autotune.passes",),  # the steps of a chain
    ("autotune.load",),  # a space file read and checked against passes, data and model
    ("autotune.trial",),  # a trial's plan, its execution and the splits it is measured on
    ("autotune.selection",),  # paired tests, the winner, convergence, fidelity rungs
    ("autotune.olive",),  # Olive configs read into spaces, written from trials
    ("autotune.report",),  # the report of a study's frozen trials
    ("autotune.study",),  # the ask/tell loop, storage, workers, a machine's run of a study
    ("autotune.export",),  # a trial's model out of the cache; predict with it
    ("autotune.cli",),  # the command: arguments, exit statuses
)


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


def _layer_of(module: str) -> tuple[int, str]:
    """(layer index, package or module) of one of autotune's modules."""
    for i, members in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(f"{member}."):
                return i, member
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and the README's Layout")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for each import of a module of a higher layer, or of another package of the same."""
    bad = []
    for module, deps in graph.items():
        if not module.startswith("autotune.") or module.endswith(".__main__"):
            continue
        level, home = _layer_of(module)
        for dep in sorted(d for d in deps if d.startswith("autotune.")):
            dep_level, dep_home = _layer_of(dep)
            if dep_level > level or (dep_level == level and dep_home != home):
                bad.append(f"{module} -> {dep}")
    return bad


def test_the_graph_sees_imports_in_functions_and_relative_ones() -> None:
    graph = import_graph()
    assert "autotune.space.params" in graph["autotune.space.schema"]
    assert "autotune.passes._registry" in graph["autotune.passes"]  # from ._registry import ...
    assert "autotune.export.trials" in graph["autotune.export.olive_output"]  # in a function


def test_every_module_is_in_one_layer() -> None:
    for module in import_graph():
        if module.startswith("autotune."):
            _layer_of(module)


def test_imports_go_down_the_layers() -> None:
    bad = layer_violations(import_graph())
    assert not bad, "imports up the layers (README, Layout): " + "; ".join(bad)


def test_an_import_up_the_layers_is_refused() -> None:
    graph = {m: set(deps) for m, deps in import_graph().items()}
    graph["autotune.trial.runner"].add("autotune.report.build")
    graph["autotune.targets"].add("autotune.task_kinds")
    assert sorted(layer_violations(graph)) == [
        "autotune.targets -> autotune.task_kinds",
        "autotune.trial.runner -> autotune.report.build",
    ]


def test_a_back_import_is_a_cycle() -> None:
    graph = {m: set(deps) for m, deps in import_graph().items()}
    graph["autotune.space.params"].add("autotune.space.schema")
    assert find_cycle(graph) is not None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_evaluators_do_not_import_autotune() -> None:
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.startswith("autotune")) for m, deps in graph.items()}
    bad = {m: d for m, d in bad.items() if m.startswith("evaluators") and d}
    assert not bad, f"evaluators import autotune: {bad}"


def _imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_the_cli_parses_arguments() -> None:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    bad = sorted(
        str(p.relative_to(ROOT))
        for p in files
        if "argparse" in _imports_of(p) and not p.is_relative_to(ROOT / "autotune" / "cli")
    )
    assert not bad, f"argparse outside autotune/cli: {bad}"


def test_benchmarks_use_the_library_not_the_cli_module() -> None:
    bad = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "benchmarks").rglob("*.py")
        if any(m == "autotune.cli" or m.startswith("autotune.cli.") for m in _imports_of(p))
    )
    assert not bad, f"benchmarks import the CLI package (run it as a command instead): {bad}"
