"""The house's plan, checked: each layer imports only the ones below it, and no files import each
other in a circle.

models/ -> reach/ (the core) -> crawler/ -> flows/ -> web/ (the dashboard) -> cli/ (the command
line, which also serves the dashboard). The sandbox
imports nothing of the product, and only the applications may start it; bench/ and tests/ are
harnesses and may import anything.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["models", "reach", "crawler", "flows", "web", "cli"]
APART = ["sandbox", "bench"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function (a lazy import is an arrow too)."""
    found: set[str] = set()
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from package import module` imports the module (a package's own __init__ runs
            # before any of its modules anyway); `from module import name` imports the module.
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return found


def _product_files() -> dict[str, Path]:
    files = {}
    for top in LAYERS + APART:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" not in path.parts:
                files[_module_name(path)] = path
    return files


def _edges() -> dict[str, set[str]]:
    files = _product_files()
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = {target for target in _imports(path) if target in files and target != name}
        # A package named only as the parent of a module it is imported with is not an arrow.
        edges[name] = {
            t
            for t in targets
            if not any(other.startswith(t + ".") for other in targets)
            or not (files[t].name == "__init__.py" and name.startswith(t + "."))
        }
    return edges


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for source, targets in _edges().items():
        top = source.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other == top:
                continue
            if top == "sandbox":
                allowed = (
                    False  # a fake of the platforms built from their docs, never from our code
                )
            elif top == "bench":
                allowed = True
            elif other == "sandbox":
                allowed = top == "cli"
            elif other == "bench":
                allowed = False
            else:
                allowed = LAYERS.index(other) < LAYERS.index(top)
            if not allowed:
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_no_files_import_each_other_in_a_circle() -> None:
    edges = _edges()
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(
                    " -> ".join(path[path.index(target) :] + [node, target])
                    if target in path
                    else f"{node} -> {target}"
                )
            elif target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []
