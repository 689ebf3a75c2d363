"""The package's folders are layers, and every import points down.

:data:`LAYERS` is the one declaration of the layer order, bottom first. A module's
layer is its folder under ``fuzzharness/`` (or its own name for a top-level module); a
layer may hold several names, which may import each other (without a cycle).
Every import of a package module -- at the top or inside a function, absolute or
relative -- must name a module of the same layer or of a lower one, and the modules
import each other without a cycle. A module in no declared layer fails the test, so
a new room is added here on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fuzzharness"

#: Bottom first. A layer may import itself and anything before it, never after it. An
#: entry is a folder or top-level module name, or a tuple of names sharing one layer.
LAYERS: tuple[str | tuple[str, ...], ...] = (
    "errors",  # the one error hierarchy (and the package's __init__: its version)
    "contract",  # the header's enums and values, the only cffi module, the registry, the ABI check
    "programs",  # sequential and concurrent programs, their three forms, the interpreter
    "oracles",  # model, concurrent model, linearizability + timelines, differential, leaks, sanitizers
    "execution",  # worker processes, the supervisor, the wire format
    "findings",  # the store, durable files, triage, minimization, the corpus, repro
    "report",  # campaign reports, progress display
    "lanes",  # fuzz, stress, coverage, slices, the campaign, the mutant suite
    "bench",  # reclamation latency, throughput, stress machinery
    ("hypothesis", "pytest_plugin"),  # in a user's test suite: the state machine, the pytest plugin
    "cli",  # the command line
)


def _names(layer: str | tuple[str, ...]) -> tuple[str, ...]:
    return layer if isinstance(layer, tuple) else (layer,)


def layer_name(index: int) -> str:
    return "/".join(_names(LAYERS[index]))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # fuzzharness/__init__.py holds the version only
        return 0
    name = parts[1]
    for index, layer in enumerate(LAYERS):
        if name in _names(layer):
            return index
    raise AssertionError(f"{module}: its folder or name {name!r} is no declared layer (tests/unit/test_layers.py LAYERS)")


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported package module) for every import in the file, lazy ones included."""
    is_package = path.name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "fuzzharness"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fuzzharness":
                continue
            for alias in node.names:  # `from fuzzharness.lanes import coverage` imports a module
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in known else target))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    upward: list[str] = []
    for module, path in mods.items():
        for line, target in imports_of(module, path, known):
            assert target in known, f"{path}:{line}: imports {target}, which is not a module of the package"
            if target != module:
                graph[module].add(target)
            if layer_of(target) > layer_of(module):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} ({layer_name(layer_of(module))}) "
                              f"imports {target} ({layer_name(layer_of(target))}), a higher layer")  # fmt: skip
    return graph, upward


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_module_is_in_a_declared_layer():
    for module in modules():
        layer_of(module)


def test_every_import_points_down():
    _, upward = import_graph()
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_the_bindings_touch_cffi():
    users = [m for m, p in modules().items() if any(
        (isinstance(n, ast.Import) and any(a.name == "cffi" for a in n.names))
        or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "cffi")
        for n in ast.walk(ast.parse(p.read_text())))]  # fmt: skip
    assert users == ["fuzzharness.contract.bindings"]


# The checks themselves must be able to fail.


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    fake = tmp_path / "fuzzharness"
    for rel, text in {
        "__init__.py": "",
        "errors.py": "",
        "contract/__init__.py": "",
        "contract/header.py": "from fuzzharness.lanes.fuzz import x\n",
        "lanes/__init__.py": "",
        "lanes/fuzz.py": "def f():\n    from ..lanes import stress\n",
        "lanes/stress.py": "from . import fuzz\n",
    }.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    graph, upward = import_graph()
    assert len(upward) == 1 and "contract/header.py:1" in upward[0]
    assert find_cycle(graph) in (["fuzzharness.lanes.fuzz", "fuzzharness.lanes.stress", "fuzzharness.lanes.fuzz"],
                                 ["fuzzharness.lanes.stress", "fuzzharness.lanes.fuzz", "fuzzharness.lanes.stress"])


def test_names_sharing_a_layer_may_import_each_other_but_not_upward(tmp_path, monkeypatch):
    fake = tmp_path / "fuzzharness"
    for rel, text in {
        "__init__.py": "",
        "errors.py": "",
        "hypothesis.py": "from fuzzharness.pytest_plugin import x\n",
        "pytest_plugin.py": "from fuzzharness import errors\n",
        "bench/__init__.py": "",
        "bench/throughput.py": "from fuzzharness.hypothesis import y\n",
    }.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    graph, upward = import_graph()
    assert layer_of("fuzzharness.hypothesis") == layer_of("fuzzharness.pytest_plugin") > layer_of("fuzzharness.bench")
    assert len(upward) == 1 and "bench/throughput.py:1" in upward[0] and "(hypothesis/pytest_plugin)" in upward[0]
    assert find_cycle(graph) is None


def test_a_module_outside_the_layers_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "fuzzharness"
    (fake / "utils").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "utils" / "junk.py").write_text("")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="no declared layer"):
        test_every_module_is_in_a_declared_layer()
