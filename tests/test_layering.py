"""The package layering of STYLE.md, read from the import statements of every module.

``envs_jax`` never imports ``purerl``; ``purerl.common`` / ``purerl.losses`` never import
``purerl.algos`` or ``purerl.cli``; no algorithm imports ``purerl.cli``; and the modules of
``purerl`` and ``envs_jax`` import each other without a cycle (module level or not).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("envs_jax", "purerl")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    """Every module of our packages that ``path`` imports (absolute names)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # "from purerl.algos import ppo" names a module; "from x import func" names x.
        graph[name] = {imp if imp in modules else imp.rpartition(".")[0]
                       for imp in _imports(path)} & set(modules)
        graph[name].discard(name)
    return graph


def test_envs_jax_never_imports_purerl():
    bad = {m: sorted(i for i in deps if i.startswith("purerl"))
           for m, deps in _graph().items() if m.startswith("envs_jax")}
    assert not {m: d for m, d in bad.items() if d}


def test_common_and_losses_never_import_algos_or_cli():
    bad = {m: sorted(i for i in deps if i.startswith(("purerl.algos", "purerl.cli")))
           for m, deps in _graph().items()
           if m.startswith(("purerl.common", "purerl.losses", "purerl.baselines"))}
    assert not {m: d for m, d in bad.items() if d}


def test_no_algorithm_imports_a_cli():
    bad = {m: sorted(i for i in deps if i.startswith("purerl.cli"))
           for m, deps in _graph().items() if m.startswith("purerl.algos")}
    assert not {m: d for m, d in bad.items() if d}


def test_no_import_cycle():
    graph = _graph()
    # Package __init__ -> submodule edges are how a package exposes its parts, not cycles.
    edges = {m: {d for d in deps if not (m == d.rpartition(".")[0] and
                                         _is_package(m))} for m, deps in graph.items()}
    state, cycle = {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(edges[node]):
            if state.get(dep) == "open":
                cycle.append(stack[stack.index(dep):] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycle, cycle


def _is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").exists()
