"""The layout's rules, checked on the code itself (README: "How the code is laid out").

Layers, top to bottom, arrows only downward:
  entry points  cli, docs, __main__, the package's __init__, pipeline/ and tuning/ (they run stages);
  stages        data (prepare), training, evaluation, export, serve, monitoring, human: none imports another;
  shared        models, records, reporting: used by every stage, importing no stage;
  foundations   config, console, errors, provenance, kernel_caches, moved_modules.
Every import counts, the lazy ones inside functions and those under TYPE_CHECKING included, and no
module may reach itself through its imports (an import circle).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import antrenor

SOURCE = Path(antrenor.__file__).parent
ENTRY_POINTS = {"__init__", "__main__", "cli", "docs", "pipeline", "tuning"}
STAGES = {"data", "training", "evaluation", "export", "serve", "monitoring", "human"}
SHARED = {"models", "records", "reporting"}
FOUNDATIONS = {"config", "console", "errors", "provenance", "kernel_caches", "moved_modules"}
NOT_CODE = {"resources"}
LAYER = {**{n: 0 for n in ENTRY_POINTS}, **{n: 1 for n in STAGES}, **{n: 2 for n in SHARED}, **{n: 3 for n in FOUNDATIONS}}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[tuple[str, int]]:
    """(imported module or module.name, line) for every import of the package in one file."""
    package = root.name
    own = module_name(path, root)
    here = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == package]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == package:
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def import_graph(root: Path) -> dict[str, list[tuple[str, int]]]:
    """module -> the modules of the package it imports (a `from pkg import name` resolves to pkg.name when that
    is a module, else to pkg)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = []
        for target, line in imports_of(path, root):
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target != name:
                targets.append((target, line))
        graph[name] = targets
    return graph


def top_folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def direction_problems(root: Path) -> list[str]:
    """Each import that runs against the layers, and each top-level file or folder no layer names."""
    problems = []
    for child in sorted(root.iterdir()):
        name = child.stem if child.suffix == ".py" else child.name
        is_code = child.is_dir() and (child / "__init__.py").exists() or child.suffix == ".py"
        if is_code and name not in LAYER and name not in NOT_CODE:
            problems.append(f"{child.name}: in no layer (add it to the layers in tests/unit/test_architecture.py)")
    for module, targets in import_graph(root).items():
        source = top_folder(module)
        for target, line in targets:
            destination = top_folder(target)
            if source == destination or source not in LAYER or destination not in LAYER:
                continue
            if LAYER[destination] < LAYER[source] or (LAYER[source] == LAYER[destination] == 1):
                problems.append(f"{module}:{line} imports {target} ({source} -> {destination})")
    return problems


def import_circles(root: Path) -> list[list[str]]:
    """Groups of modules that reach each other through their imports (Tarjan's strongly connected components)."""
    graph = {module: sorted({t for t, _ in targets}) for module, targets in import_graph(root).items()}
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_stages_import_only_downward():
    assert direction_problems(SOURCE) == []


def test_no_import_circles():
    assert import_circles(SOURCE) == []


def test_every_folder_of_the_package_is_in_a_layer():
    folders = {p.name for p in SOURCE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))} - NOT_CODE
    assert folders <= set(LAYER), folders - set(LAYER)


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "antrenor"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in package.rglob("*.py")} | {package}:
        (folder / "__init__.py").touch()
    return package


def test_the_checks_catch_a_stage_importing_a_stage_a_lazy_upward_import_and_a_circle(tmp_path):
    package = write_package(tmp_path, {
        "errors.py": "",
        "serve/app.py": "from antrenor.evaluation.generate import answers\n",  # stage -> stage
        "evaluation/generate.py": "def answers():\n    from antrenor.pipeline import run\n",  # stage -> entry, lazy
        "models/a.py": "from antrenor.models import b\n",
        "models/b.py": "from antrenor.models.a import thing\n",  # a circle
        "records/kinds.py": "from antrenor.errors import Oops\n",  # downward: fine
        "pipeline/run.py": "from antrenor.serve.app import app\n",  # entry -> stage: fine
        "gadgets/x.py": "",  # in no layer
    })
    problems = direction_problems(package)
    assert any("antrenor.serve.app:1 imports antrenor.evaluation.generate (serve -> evaluation)" in p for p in problems)
    assert any("antrenor.evaluation.generate:2 imports antrenor.pipeline.run (evaluation -> pipeline)" in p for p in problems)
    assert any(p.startswith("gadgets: in no layer") for p in problems)
    assert len(problems) == 3
    assert import_circles(package) == [["antrenor.evaluation.generate", "antrenor.pipeline.run", "antrenor.serve.app"],
                                       ["antrenor.models.a", "antrenor.models.b"]]


def test_docstring_examples_call_functions_that_exist():
    """`>>> antrenor.NAME(...)` in a docstring must name a public function of the package."""
    wrong = [f"{path.relative_to(SOURCE)}: antrenor.{name}" for path in sorted(SOURCE.rglob("*.py"))
             for name in re.findall(r">>> .*?\bantrenor\.([a-z_]+)\(", path.read_text(encoding="utf-8"))
             if not callable(getattr(antrenor, name, None))]
    assert wrong == []


def test_every_integration_test_module_carries_the_integration_marker():
    tests = Path(__file__).parents[1] / "integration"
    unmarked = [p.name for p in sorted(tests.glob("test_*.py"))
                if not re.search(r"^pytestmark = .*pytest\.mark\.integration", p.read_text(encoding="utf-8"), re.M)]
    assert unmarked == []


def test_old_import_paths_of_moved_modules_still_work_with_a_warning():
    import importlib
    import sys
    import warnings

    from antrenor.moved_modules import MOVED

    for old, homes in MOVED.items():
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert any(issubclass(w.category, DeprecationWarning) and homes[0] in str(w.message) for w in caught), old
        new_names = [name for name in vars(importlib.import_module(homes[0])) if not name.startswith("_")]
        assert new_names and all(getattr(module, name) is getattr(importlib.import_module(homes[0]), name)
                                 for name in new_names[:5]), old
    from antrenor.serve.monitor import MonitorConfig, monitor  # names from two new homes
    from antrenor.monitoring.config import MonitorConfig as Config
    from antrenor.monitoring.run import monitor as run

    assert (MonitorConfig, monitor) == (Config, run)
    with pytest.raises(ImportError):
        from antrenor.serve.monitor import no_such_name  # noqa: F401
