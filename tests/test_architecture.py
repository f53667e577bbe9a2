"""The package's shape, checked from its source: dependencies flow one way through the layers of
docs/architecture.md, no module but the CLI imports the package root, and no function runs longer
than a screen and a half without a docstring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("code_map", REPO / "scripts" / "code_map.py")
code_map = importlib.util.module_from_spec(spec)
spec.loader.exec_module(code_map)

# Lowest first: a module may import modules of its own layer and of the layers before it.
LAYERS = [
    (
        "core",
        [
            "errors",
            "registry",
            "validation",
            "streaming",
            "atomic",
            "saving",
            "devices",
            "history",
            "version",
            "display",
            "allocator",
            "threads",
            "progress",
        ],
    ),
    ("datasets", ["datasets"]),
    ("transforms", ["transforms", "prepare"]),
    ("models", ["models", "labels", "inference"]),
    ("training", ["training"]),
    ("detection", ["detection"]),
    ("estimators", ["estimators"]),
    ("reports / io / export", ["reports", "io", "export"]),
    ("recipes", ["recipes"]),
    ("cli", ["cli", "__main__"]),
]


def layer_of(module: str) -> int:
    name = module.removeprefix("hourglass.")
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")


def test_dependencies_flow_one_way():
    graph = code_map.import_graph()
    upward = []
    for module, imports in graph.items():
        if module == "hourglass":  # the package root gathers the public API from every layer
            continue
        for target in imports:
            if target != "hourglass" and layer_of(target) > layer_of(module):
                upward.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_only_the_cli_imports_the_package_root():
    graph = code_map.import_graph()
    importers = sorted(m for m, imports in graph.items() if "hourglass" in imports)
    assert importers and all(m == "hourglass.cli" or m.startswith("hourglass.cli.") for m in importers), importers


def test_no_long_function_without_a_docstring():
    too_long = [
        f"{name} ({where}): {body} lines"
        for lines, doc, name, where, body in code_map.functions()
        if body > 150 or (lines > 150 and not doc)
    ]
    assert not too_long, too_long


def test_the_architecture_page_shows_the_current_import_graph():
    """docs/architecture.md carries the import table scripts/code_map.py prints."""
    page = (REPO / "docs" / "architecture.md").read_text()
    for module, imports in code_map.import_graph().items():
        row = (
            f"| `{module.removeprefix('hourglass.') or 'hourglass'}` | "
            + (", ".join(sorted(d.removeprefix("hourglass.") for d in imports)) or "-")
            + " |"
        )
        assert row in page, f"docs/architecture.md is out of date (run scripts/code_map.py --graph-only): {row}"
