"""The house rules of shared/DESIGN.md §1 that code review misses: no import cycle inside replab, metrics
import no core, core and the harness know no system, no system imports another (but fairness → RAE + DiT-DH),
no function over 60 lines but the models' forwards."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "replab"


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the replab modules it imports (anywhere in it, lazy imports included)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("replab"):
                targets |= {resolve(f"{node.module}.{a.name}") or resolve(node.module) for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {resolve(a.name) for a in node.names if a.name.startswith("replab")}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_inside_replab():
    cycle = _cycle(_imports(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_metrics_are_pure():
    graph = _imports(_modules())
    offending = {m: sorted(t for t in targets if not t.startswith("replab.metrics") and t != "replab.errors")
                 for m, targets in graph.items() if m.startswith("replab.metrics")}  # fmt: skip
    assert not any(offending.values()), offending


# one system per folder; RAE + DiT-DH is one system in two folders (stage 1 and stage 2)
SYSTEMS = {"rae-dit": ("replab.rae", "replab.diffusion"), "embed": ("replab.embed",),
           "diting": ("replab.diting",), "fairness": ("replab.fairness",), "footprint": ("replab.footprint",),
           "quantum": ("replab.quantum",)}  # fmt: skip
ALLOWED = {("fairness", "rae-dit")}  # a fairness audit samples a generator and reads an RAE encoder


def _system(module: str) -> str | None:
    return next((name for name, roots in SYSTEMS.items() if module.startswith(roots)), None)


def test_core_and_the_harness_know_no_system():
    graph = _imports(_modules())
    # footprint is the instrument every Run carries (core.run writes each run's footprint.json)
    measured = {("replab.core.run", "footprint")}
    offending = {m: sorted(t for t in targets if _system(t) and (m, _system(t)) not in measured)
                 for m, targets in graph.items() if m.startswith(("replab.core", "replab.harness"))}  # fmt: skip
    assert not any(offending.values()), offending


def test_no_system_imports_another_but_fairness_the_generator():
    graph = _imports(_modules())
    crossing = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                      if _system(m) and _system(t) and _system(m) != _system(t)
                      and (_system(m), _system(t)) not in ALLOWED)  # fmt: skip
    assert not crossing, crossing


def test_every_folder_under_replab_is_a_system_or_shared():
    shared = {"core", "metrics", "harness", "presets", "assets", "__pycache__"}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.endswith(".egg-info")}
    systems = {root.rpartition(".")[2] for roots in SYSTEMS.values() for root in roots}
    assert folders - shared == systems, folders - shared ^ systems


def test_no_function_over_sixty_lines_but_model_forwards():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "forward":
                if node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{name}.{node.name}")
    assert not long, long
