"""The package's shape, read from its source: the longest functions and which module imports which.

    python scripts/code_map.py                 # longest functions, then the import graph
    python scripts/code_map.py --longest 10    # more functions
    python scripts/code_map.py --graph-only    # the import graph as a markdown table

Imports are read statically (``ast``), including those inside functions, so a lazy import counts
as a dependency as much as one at the top. docs/architecture.md shows this script's graph;
tests/test_architecture.py checks the same graph against the layers.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hourglass"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str) -> set[str]:
    """The hourglass modules ``path`` imports (``from hourglass.x import y`` counts as hourglass.x,
    or hourglass.x.y when that is a module)."""
    known = modules()
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "hourglass")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "hourglass":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found.update(subs or [target])
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {name: imports_of(path, name) for name, path in modules().items()}


def body_lines(node) -> int:
    """A function's lines without its docstring."""
    lines = node.end_lineno - node.lineno + 1
    doc = (
        node.body[0]
        if node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(getattr(node.body[0], "value", None), ast.Constant)
        and isinstance(node.body[0].value.value, str)
        else None
    )
    return lines - (doc.end_lineno - doc.lineno + 1 if doc is not None else 0)


def functions(min_lines: int = 0):
    """(lines, has docstring, qualified name, file:line, lines without the docstring) of every
    function in the package, longest first."""
    out = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), str(path))
        stack = [(tree, name)]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = child.end_lineno - child.lineno + 1
                    if lines >= min_lines:
                        out.append(
                            (
                                lines,
                                ast.get_docstring(child) is not None,
                                f"{prefix}.{child.name}",
                                f"{path.relative_to(PACKAGE.parent)}:{child.lineno}",
                                body_lines(child),
                            )
                        )
                    stack.append((child, f"{prefix}.{child.name}"))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, f"{prefix}.{child.name}"))
    return sorted(out, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--longest", type=int, default=5)
    ap.add_argument("--graph-only", action="store_true")
    args = ap.parse_args()
    if not args.graph_only:
        print("longest functions (lines; lines without the docstring):")
        for lines, _doc, name, where, body in functions()[: args.longest]:
            print(f"  {lines:4d} {body:4d}  {name} ({where})")
        print()
    graph = import_graph()
    print("| module | imports (hourglass.*) |\n|---|---|")
    for name in sorted(graph):
        deps = ", ".join(sorted(d.removeprefix("hourglass.") for d in graph[name])) or "-"
        print(f"| `{name.removeprefix('hourglass.') or 'hourglass'}` | {deps} |")
    root_importers = sorted(n for n, deps in graph.items() if "hourglass" in deps)
    print(f"\nmodules importing the package root: {', '.join(root_importers) or 'none'}")


if __name__ == "__main__":
    main()
