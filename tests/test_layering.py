"""The package's layering: imports only run downward, and no module takes part in an import circle.

Each top-level folder of pfbench/ sits on one layer; a module may import its own folder and any folder on a
lower layer, never one on its own layer or above. ``__main__`` modules are entry points (like the console
script) and may import any layer. reference_model/, the model under test, imports nothing of pfbench.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# highest layer first; folders on one line share a layer and may not import each other
LAYERS = (
    ("cli",),
    ("runner",),
    ("report",),
    ("results",),
    ("benchmarks",),
    ("experiments",),
    ("train",),
    ("models",),
    ("measure",),
    ("accounting", "metrics"),
    ("data", "render"),
    ("core",),
)
RANK = {folder: len(LAYERS) - i for i, line in enumerate(LAYERS) for folder in line}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every pfbench / reference_model module ``path`` imports, at any depth of the file (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def graph() -> dict[str, set[str]]:
    files = [p for top in ("pfbench", "reference_model") for p in (ROOT / top).rglob("*.py")]
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) - {module_name(p)} for p in files}


def folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pfbench" and len(parts) > 1 else None


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        for dst in targets:
            if src.startswith("reference_model") and dst.startswith("pfbench"):
                bad.append(f"{src} -> {dst} (reference_model imports nothing of pfbench)")
                continue
            if src.endswith("__main__") or not src.startswith("pfbench.") or not dst.startswith("pfbench."):
                continue
            a, b = folder(src), folder(dst)
            if a == b:
                continue
            if a not in RANK or b not in RANK:
                bad.append(f"{src} -> {dst} (folder {a if a not in RANK else b!r} has no layer: add it to LAYERS)")
            elif RANK[b] >= RANK[a]:
                bad.append(f"{src} -> {dst} ({a} is not above {b})")
    return sorted(bad)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_folder_has_a_layer():
    folders = {p.name for p in (ROOT / "pfbench").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(RANK), f"folders without a layer: {sorted(folders - set(RANK))}"


def test_imports_only_run_downward():
    bad = upward_imports(graph())
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_circles():
    found = circles(graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checks_catch_an_upward_import_and_a_circle():
    edges = {"pfbench.core.files": {"pfbench.cli.main"}, "pfbench.cli.main": set(),
             "pfbench.metrics.a": {"pfbench.metrics.b"}, "pfbench.metrics.b": {"pfbench.metrics.a"}}
    assert upward_imports(edges) == ["pfbench.core.files -> pfbench.cli.main (core is not above cli)"]
    assert circles(edges) == [["pfbench.metrics.a", "pfbench.metrics.b"]]
    assert upward_imports({"pfbench.accounting.x": {"pfbench.metrics.y"}})  # one layer: no imports either way


HEAVY = ("torch", "numpy", "pandas", "matplotlib", "scipy", "torch_fidelity", "cv2", "av", "transformers", "diffusers")


def test_package_inits_are_cheap():
    """Importing any package (its __init__ and what that pulls in) loads none of the heavy libraries."""
    packages = sorted(module_name(p) for p in (ROOT / "pfbench").rglob("__init__.py"))
    code = ("import importlib, sys\n"
            f"for name in {packages!r}:\n"
            "    importlib.import_module(name)\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"package __init__ files load {out.stdout.strip()}"
