"""The layout's promises: no import cycles, and ``import tfshare`` loads the library only."""

from __future__ import annotations

import ast
import graphlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfshare"
#: The measuring side: subpackages the library never imports.
LAB = ("tfshare.answers", "tfshare.bench", "tfshare.drills", "tfshare.harness")
#: What only the lab needs (the ``bench`` extra).
LAB_DEPENDENCIES = ("psutil", "threadpoolctl", "matplotlib")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """tfshare's modules -> the tfshare modules each imports, read from the source (nothing is imported).

    As ``../shared/tools/import_cycles.py`` counts them: every ``import x.y``,
    ``from x import y`` and relative import naming a module of the package,
    also inside functions; ``import a.b.c`` ties to the deepest module that
    exists; a module's own package ``__init__`` does not count.
    """
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    found.add(target)
        graph[name] = found
    return graph


def test_there_are_no_import_cycles():
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_library_never_imports_the_lab():
    graph = import_graph()
    library = [m for m in graph if m != "tfshare" and not m.startswith(LAB)]
    offenders = {m: sorted(t for t in graph[m] if t.startswith(LAB)) for m in [*library, "tfshare"]}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_import_tfshare_loads_no_lab_module():
    code = f"import sys, tfshare\nprint(sorted(m for m in sys.modules if m.startswith({LAB!r})))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_library_needs_no_lab_dependency():
    """The library's source imports none of the bench extra (``import tensorflow`` may load them when present)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if _module_name(path).startswith(LAB):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in LAB_DEPENDENCIES]
    assert offenders == []
