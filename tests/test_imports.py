"""The dependency arrows point one way and nothing imports in a circle (lazy imports included).

run_pipeline.py -> pipeline/ -> engines/ -> engines/core/; ops never import detectors.
Read from the source with ast, so an import inside a function counts too.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engines", "pipeline", "plugins")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Our modules that ``path`` imports anywhere (the longest known prefix of each name)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                if ".".join(parts[:end]) in known:
                    found.add(".".join(parts[:end]))
                    break
    return found


GRAPH = None


def graph() -> dict[str, set[str]]:
    global GRAPH
    if GRAPH is None:
        modules = _modules()
        GRAPH = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    return GRAPH


@pytest.mark.parametrize("importer, forbidden", [
    ("engines", ("pipeline", "plugins")),
    ("engines.core", ("engines.detectors", "engines.ops", "engines.nets", "engines.training",
                      "engines.base", "pipeline", "plugins")),
    ("engines.ops", ("engines.detectors",)),
])
def test_dependencies_point_one_way(importer, forbidden):
    bad = sorted(f"{module} -> {target}" for module, targets in graph().items()
                 if module == importer or module.startswith(importer + ".")
                 for target in targets
                 if any(target == f or target.startswith(f + ".") for f in forbidden))
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    edges, index, low, stack, on_stack, cycles = graph(), {}, {}, [], set(), []

    def visit(node):      # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert not cycles, cycles


def test_the_checker_sees_lazy_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from engines.core.letterbox import Letterbox\n    import pipeline.codec\n")
    assert _imports(source, {"engines.core.letterbox", "pipeline.codec"}) == {
        "engines.core.letterbox", "pipeline.codec"}
