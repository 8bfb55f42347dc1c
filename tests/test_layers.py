"""The house rules of the package structure: imports point down (import-linter's contracts in pyproject.toml), no
import circle anywhere, and the trainer, the evaluator, the run module and the CLI never ask which method or
modality they are running."""

import ast
import subprocess
import sys
from pathlib import Path

import grimp

import openjepa
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES

ROOT = Path(openjepa.__file__).parent
GENERIC = [*sorted((ROOT / "train").rglob("*.py")), *sorted((ROOT / "eval").rglob("*.py")),
           *sorted((ROOT / "runs").rglob("*.py")), ROOT / "cli.py"]


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT.parents[1])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_no_import_circle_anywhere():
    graph = grimp.build_graph("openjepa")
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert not circles, circles


def _names_tested(path: Path) -> list[str]:
    """Registered method or modality names as string constants, ``isinstance`` checks against registered method
    classes, and ``hasattr`` probes of methods or models, in one source file."""
    names = set(METHODS.names()) | set(MODALITIES.names())
    classes = {METHODS.get(name).__name__ for name in METHODS.names()}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and node.value in names:
            found.append(f"{path.name}:{node.lineno} '{node.value}'")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [ast.unparse(a) for a in node.args]
            if node.func.id == "isinstance" and len(args) == 2 and any(c in args[1] for c in classes):
                found.append(f"{path.name}:{node.lineno} isinstance(..., {args[1]})")
            if node.func.id == "hasattr" and args and any(word in args[0] for word in ("method", "model")):
                found.append(f"{path.name}:{node.lineno} hasattr({', '.join(args)})")
    return found


def test_the_generic_code_never_asks_which_method_or_modality_it_runs():
    assert len(GENERIC) > 10 and set(METHODS.names()) >= {"ijepa", "lejepa", "vjepa", "lewm", "vjepa2ac"}
    found = [hit for path in GENERIC for hit in _names_tested(path)]
    assert not found, found


def test_the_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if cfg.method.name == "lewm" or cfg.data.modality == "video":\n    pass\n'
                   'ok = isinstance(model, VJepa) or hasattr(method, "predict_targets")\n')
    assert len(_names_tested(bad)) == 4
