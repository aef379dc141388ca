"""The package's shape: no import circles, and the project's own modules imported at the top.

A function-local import of one of our modules hides a real dependency (and can hide a
circle); the only ones allowed are those that keep a heavy third-party package off the
start-up path, listed here with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"

# (importing module, imported module): why the import waits until it is needed.
LAZY_ALLOWED = {
    ("tracker.cli.app", "tracker.db"): "SQLAlchemy: `tracker --help` must not load it",
    ("tracker.cli.daemon", "tracker.daemon"): "APScheduler: only `daemon run` needs it",
    ("tracker.cli.complete", "tracker.db"): "SQLAlchemy: `tracker --help` must not load it",
    ("tracker.cli.evidence", "tracker.evidence"): "the evidence store: loaded by its commands only",
    ("tracker.cli.casefile", "tracker.casefile"): "the case file: loaded by its command only",
    ("tracker.cli.casefile", "tracker.evidence"): "the case file: loaded by its command only",
    ("tracker.cli.casefile", "tracker.views.casepage"): "the case file: loaded by its command only",
    ("tracker.letter", "tracker.evidence"): "the evidence store: only a letter sent needs it",
    # The console script imports only the standard library until it runs a command itself.
    ("tracker.client", "tracker"): "the client is stdlib-only until it runs in-process",
    ("tracker.client", "tracker.cli"): "the client is stdlib-only until it runs in-process",
    ("tracker.client", "tracker.config"): "the client is stdlib-only until it runs in-process",
    ("tracker.cli.case", "tracker.cli.transcript"): (
        "the transcript parser and the evidence store: only `case contact --transcript` needs them"
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules imported at the top level, modules imported inside functions) of tracker."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tracker"):
            names = {node.module}
            # `from tracker import cases` imports the module tracker.cases.
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names = {a.name for a in node.names if a.name.startswith("tracker")}
        else:
            continue
        target = top if node in tree.body or _in_type_checking(tree, node) else local
        target |= names
    return top, local


def _in_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.If)
            and "TYPE_CHECKING" in ast.unparse(stmt.test)
            and any(node is child for child in ast.walk(stmt))
        ):
            return True
    return False


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_alembic" not in p.parts}
    top_graph: dict[str, set[str]] = {}
    local_graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        top, local = _imports(path)
        top_graph[name] = {m for m in top if m in modules and m != name}
        local_graph[name] = {m for m in local if m in modules and m != name}
    return top_graph, local_graph


def test_no_import_circles() -> None:
    top, local = _graph()
    graph = {name: top[name] | local[name] for name in top}
    # A package imports its own submodules (tracker.views -> tracker.views.case); those
    # edges are how a package is built, not a dependency between floors.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            cycle = " -> ".join((*path[path.index(name) :], name))
            raise AssertionError(f"import circle: {cycle}")
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_own_modules_are_imported_at_the_top() -> None:
    _, local = _graph()
    hidden = sorted(
        (name, dep)
        for name, deps in local.items()
        for dep in deps
        if (name, dep) not in LAZY_ALLOWED
    )
    assert hidden == [], "import these at the top of the file (or justify in LAZY_ALLOWED)"


def test_the_library_never_imports_the_command_line() -> None:
    top, local = _graph()
    for name in top:
        # The console script's client and the command server run the command line: they sit
        # above it.
        if name.startswith(("tracker.cli", "tracker.__main__", "tracker.client", "tracker.server")):
            continue
        deps = top[name] | local[name]
        assert not {d for d in deps if d.startswith("tracker.cli")}, name
        if not name.startswith("tracker.views"):
            assert not {d for d in deps if d.startswith("tracker.views")}, name
