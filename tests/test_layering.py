"""The house rules, read from the imports themselves (AST, every import, also those
inside functions): the contract imports nothing of photoplug, adapters reach only the
contract, the media surface, what hosts share and their own host, core never imports an
adapter, only the CLI and the page import the CLI or the page, and nothing imports in a
circle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"plugin": "photoplug", "hooks": "photoplug.hooks", "adapters": "photoplug.adapters"}


def module_name(path: Path) -> str:
    top, *rest = path.relative_to(REPO).with_suffix("").parts
    parts = ROOTS[top].split(".") + rest
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for top in ROOTS:
        for path in sorted((REPO / top).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports(path: Path, name: str) -> set[str]:
    """The photoplug modules ``path`` imports (a ``from X import y`` counts as X.y when
    X.y is a module, else as X)."""
    known = modules()
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in out if m == "photoplug" or m.startswith("photoplug.")}


GRAPH = {name: imports(path, name) for name, path in modules().items()}


def test_the_graph_is_read() -> None:
    assert len(GRAPH) > 60
    assert "photoplug.model.engine" in GRAPH["photoplug.default_plugin"]
    assert "photoplug.hooks" in GRAPH["photoplug.adapters.folder.adapter"]


def test_hooks_import_nothing_of_photoplug() -> None:
    for name, deps in GRAPH.items():
        if name.startswith("photoplug.hooks"):
            assert all(d.startswith("photoplug.hooks") for d in deps), (name, deps)


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n.startswith("photoplug.adapters.")))
def test_adapters_use_only_the_contract_media_and_common(name: str) -> None:
    host = ".".join(name.split(".")[:3])
    allowed = ("photoplug.hooks", "photoplug.media", "photoplug.adapters.common", host)
    wrong = {d for d in GRAPH[name] if not any(d == a or d.startswith(a + ".")
                                               for a in allowed)}
    assert not wrong, f"{name} imports {sorted(wrong)}"


def test_core_never_imports_an_adapter() -> None:
    for name, deps in GRAPH.items():
        if not name.startswith(("photoplug.adapters", "photoplug.hooks")):
            assert not {d for d in deps if d.startswith("photoplug.adapters")}, name


def test_only_the_cli_and_the_page_import_them() -> None:
    for name, deps in GRAPH.items():
        for top in ("photoplug.cli", "photoplug.web"):
            if any(d == top or d.startswith(top + ".") for d in deps):
                assert name.startswith(("photoplug.cli", "photoplug.web")), (name, top)


def test_no_import_cycles() -> None:
    def parents(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    edges = {n: {d for d in deps if d in GRAPH and d not in parents(n) and d != n}
             for n, deps in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_no_module_is_too_large() -> None:
    for name, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = 250 if name.startswith("photoplug.cli") else 450
        assert lines <= limit, f"{path.relative_to(REPO)} has {lines} lines (at most {limit})"
