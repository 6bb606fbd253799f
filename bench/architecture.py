"""The shape of the code, from its own imports: lines per app, import cycles between apps, longest functions.

    python bench/architecture.py [--json] [--top 10]

An "app" is a top-level package (shots, ingest, frameio, alerts, ...), with postflow's sub-packages
(postflow.lib and postflow.realtime) counted as their own. Only product code is read: tests, bench,
migrations and the Frame.io sandbox (a fake of someone else's service) are counted apart.

Two figures about imports:
- module-level pairs: pairs of apps that import each other at module level (an import at the top of
  a file, not inside a function);
- cycles: strongly connected components of the app graph built from every import, function-level
  ones included (what Python resolves at run time).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {"tests", "bench", ".venv", "var", "docs", "templates", "samples", ".git"}
SANDBOX_PACKAGES = ("frameio_sandbox", "frameio.sandbox")
POSTFLOW_SPLIT = ("postflow.lib", "postflow.realtime", "postflow.dashboard")
# The live-event table is the realtime layer's own (postflow.realtime writes and reads it).
SAME_LAYER = {"postflow.models": "postflow.realtime"}


def product_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_PRODUCT or len(parts) == 1 or "migrations" in parts:
            continue
        files.append(path)
    return sorted(files)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_of(module: str) -> str:
    """The app a dotted module belongs to ("frameio.uploads" -> "frameio")."""
    for prefix in SANDBOX_PACKAGES:
        if module == prefix or module.startswith(prefix + "."):
            return "sandbox"
    module = SAME_LAYER.get(module, module)
    for prefix in POSTFLOW_SPLIT:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return module.split(".")[0]


def imports_of(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import in the file."""
    found: list[tuple[str, bool]] = []
    top_level = {id(node) for node in tree.body}
    # Imports under `if TYPE_CHECKING:` never run: they are annotations, not dependencies.
    typing_only = {
        id(inner)
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base]) if base else ".".join(package)
            # `from alerts import hooks` imports the module alerts.hooks; `from x import name`, x.
            found += [(f"{base}.{alias.name}" if base else alias.name, id(node) in top_level) for alias in node.names]
    return found


def function_lengths(tree: ast.Module, module: str) -> list[tuple[int, str]]:
    lengths = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lengths.append((node.end_lineno - node.lineno + 1, f"{module}.{node.name}"))
    return lengths


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one node are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
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
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [c for c in components if len(c) > 1]


def measure(top: int) -> dict:
    files = product_files()
    product_modules = {module_name(p) for p in files}
    lines: dict[str, int] = defaultdict(int)
    any_graph: dict[str, set[str]] = defaultdict(set)
    module_graph: dict[str, set[str]] = defaultdict(set)
    file_graph: dict[str, set[str]] = defaultdict(set)
    lengths: list[tuple[int, str]] = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        module = module_name(path)
        app = app_of(module)
        lines[app] += source.count("\n")
        tree = ast.parse(source)
        if app != "sandbox":
            lengths += function_lengths(tree, module)
        for imported, at_top in imports_of(tree, module, path.name == "__init__.py"):
            target_module = _product_module(imported, product_modules)
            if target_module is None:
                continue
            file_graph[module].add(target_module)
            target = app_of(target_module)
            if target == app:
                continue
            any_graph[app].add(target)
            if at_top:
                module_graph[app].add(target)
    pairs = sorted(
        f"{a}<->{b}" for a in module_graph for b in module_graph[a] if a < b and a in module_graph.get(b, set())
    )
    lengths.sort(reverse=True)
    total = sum(lines.values())
    return {
        "lines_per_app": dict(sorted(lines.items(), key=lambda kv: -kv[1])),
        "lines_total": total,
        "module_level_pairs": pairs,
        "app_cycles": strongly_connected(any_graph),
        "file_cycles": strongly_connected(file_graph),
        "longest_functions": [{"lines": n, "function": name} for n, name in lengths[:top]],
    }


def _product_module(imported: str, product_modules: set[str]) -> str | None:
    """The product module an import names (the longest known prefix), or None for a library."""
    parts = imported.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in product_modules:
            return candidate
        parts.pop()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--top", type=int, default=10, help="how many of the longest functions to list")
    args = parser.parse_args()
    result = measure(args.top)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    total = result["lines_total"]
    print("lines per app (product code, migrations and tests apart):")
    for app, n in result["lines_per_app"].items():
        print(f"  {app:22} {n:6}  {100 * n / total:4.0f} %")
    print(f"  {'total':22} {total:6}")
    print(f"apps importing each other at module level: {len(result['module_level_pairs'])}")
    for pair in result["module_level_pairs"]:
        print(f"  {pair}")
    print(f"cycles between apps (any import): {len(result['app_cycles'])}")
    for cycle in result["app_cycles"]:
        print(f"  {' -> '.join(cycle)}")
    print(f"cycles between files (any import): {len(result['file_cycles'])}")
    for cycle in result["file_cycles"]:
        print(f"  {len(cycle)} files: {', '.join(cycle)}")
    print("longest functions (sandbox apart):")
    for row in result["longest_functions"]:
        print(f"  {row['lines']:4}  {row['function']}")


if __name__ == "__main__":
    main()
