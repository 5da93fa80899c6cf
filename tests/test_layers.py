"""The house rules of DESIGN.md, read from every import of the code.

Each ``import`` and ``from … import`` of ``cloudexpo/``, ``booths/``,
``streaming/`` and ``web/`` — at the top of a module, inside a function or
under ``TYPE_CHECKING`` alike — is resolved to the file it names. The check
then refuses:

- an import the house table does not allow (``booths`` importing ``streaming``
  or ``web``, ``streaming`` importing ``booths`` or ``web``, the kernel
  importing an area anywhere but the composition root, an area importing
  the composition root);
- a private name (``_x``) taken from another package;
- a route module of ``web/routes/`` importing another one (routes are leaves);
- a circle of files, however long;
- a module over 700 lines (migrations and seed data aside).

The tests below run the check on the code and prove it on planted
violations, so a rule that stops seeing anything fails here too.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cloudexpo", "booths", "streaming", "web")
COMPOSITION_ROOT = {"cloudexpo/app.py", "cloudexpo/cli.py"}
# What each package may import besides itself (DESIGN.md, "The house").
MAY_IMPORT = {
    "cloudexpo": set(),
    "booths": {"cloudexpo"},
    "streaming": {"cloudexpo"},
    "web": {"cloudexpo", "booths", "streaming"},
}
MAX_LINES = 700


@dataclass(frozen=True)
class Edge:
    source: str  # a file, relative to the tree's root
    target: str
    line: int
    names: tuple[str, ...]


def _module_files(root: Path) -> dict[str, str]:
    """Dotted module name -> file (relative path) for every module of the four packages."""
    modules: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = rel.as_posix()
    return modules


def _package_of(rel: str) -> str:
    """The dotted package a file's relative imports start from."""
    parts = Path(rel).with_suffix("").parts
    return ".".join(parts[:-1])


def _resolve(module: str, modules: dict[str, str]) -> str | None:
    """The longest prefix of ``module`` that is a module of the tree."""
    parts = module.split(".")
    while parts:
        found = modules.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return None


def imports_of(root: Path) -> Iterator[Edge]:
    """Every import of the tree that names a module of the tree, as an edge between files."""
    modules = _module_files(root)
    for module, rel in modules.items():
        tree = ast.parse((root / rel).read_text(encoding="utf-8"), filename=rel)
        package = module if rel.endswith("__init__.py") else _package_of(rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _resolve(alias.name, modules)
                    if target and target != rel:
                        yield Edge(rel, target, node.lineno, (alias.name,))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    if node.level > 1:
                        base = base[: len(base) - (node.level - 1)]
                    name = ".".join([*base, node.module] if node.module else base)
                else:
                    name = node.module or ""
                for alias in node.names:
                    # ``from pkg import sub`` names the submodule's file when there is one.
                    target = modules.get(f"{name}.{alias.name}") or _resolve(name, modules)
                    if target and target != rel:
                        yield Edge(rel, target, node.lineno, (alias.name,))


def _top(rel: str) -> str:
    return rel.split("/", 1)[0]


def _is_private_name(edge: Edge) -> bool:
    return any(n.startswith("_") and not n.startswith("__") for n in edge.names) or any(
        part.startswith("_") and part != "__init__.py" for part in edge.target.split("/")
    )


def _circles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one file (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        # Iterative, so a long chain of imports cannot exhaust the recursion limit.
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _exempt_from_size(rel: str) -> bool:
    name = Path(rel).name
    return "migrations" in Path(rel).parts or name.startswith("seed")


def violations(root: Path) -> list[str]:
    """Every breach of the house rules in the tree at ``root``, one line each."""
    edges = list(imports_of(root))
    problems: list[str] = []
    for e in edges:
        source, target = _top(e.source), _top(e.target)
        where = f"{e.source}:{e.line} imports {e.target}"
        if source != target:
            if source == "cloudexpo" and e.source not in COMPOSITION_ROOT:
                problems.append(f"{where}: only the composition root ({', '.join(sorted(COMPOSITION_ROOT))}) "
                                "of cloudexpo/ may import booths, streaming or web")
            elif source != "cloudexpo" and target not in MAY_IMPORT[source]:
                allowed = ", ".join(sorted(MAY_IMPORT[source])) or "nothing"
                problems.append(f"{where}: {source}/ may import {allowed} (DESIGN.md, 'The house')")
            if e.target in COMPOSITION_ROOT:
                problems.append(f"{where}: the composition root joins the packages; nothing imports it")
            if _is_private_name(e):
                problems.append(f"{where}: takes a private name ({', '.join(e.names)}) from another package")
        if e.source.startswith("web/routes/") and e.target.startswith("web/routes/") \
                and not e.target.endswith("__init__.py"):
            problems.append(f"{where}: route modules are leaves; move what they share to a module of web/")
    for group in _circles(edges):
        problems.append("circle of files: " + " -> ".join(group))
    for rel in _module_files(root).values():
        lines = (root / rel).read_text(encoding="utf-8").count("\n")
        if lines > MAX_LINES and not _exempt_from_size(rel):
            problems.append(f"{rel}: {lines} lines; split it by concept (at most {MAX_LINES})")
    return sorted(set(problems))


def test_the_code_keeps_the_house_rules() -> None:
    found = violations(ROOT)
    assert not found, "\n".join(found)


def test_imports_are_read_everywhere_in_a_module() -> None:
    """Imports inside functions and relative imports count like any other."""
    edges = {(e.source, e.target) for e in imports_of(ROOT)}
    assert ("cloudexpo/app.py", "web/app.py") in edges  # an import inside create_app
    assert any(s.startswith("streaming/") and t.startswith("streaming/") for s, t in edges)  # relative imports


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("*.pyc", "__pycache__",
                                                                                   "static", "templates",
                                                                                   "translations"))
    return root


def _some_module(root: Path, package: str) -> Path:
    return next(p for p in sorted((root / package).rglob("*.py")) if p.name != "__init__.py"
                and "migrations" not in p.parts)


def test_a_booths_module_importing_streaming_is_refused(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    planted = _some_module(root, "booths")
    planted.write_text(planted.read_text(encoding="utf-8") + "\n\ndef _planted() -> None:\n"
                       "    import streaming.live  # noqa: F401\n", encoding="utf-8")
    rel = planted.relative_to(root).as_posix()
    found = violations(root)
    assert any(line.startswith(f"{rel}:") and "booths/ may import cloudexpo" in line for line in found), found


def test_planted_violations_are_each_named(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    files = {
        "cloudexpo/__init__.py": "",
        "cloudexpo/app.py": "import web.app\n",
        "cloudexpo/db.py": "from booths import a\n",
        "booths/__init__.py": "",
        "booths/a.py": "from . import b\n",
        "booths/b.py": "def f():\n    from booths.a import x\n",
        "streaming/__init__.py": "",
        "streaming/s.py": "from web import app\n",
        "streaming/cli.py": "from cloudexpo.app import create_app\n",
        "web/__init__.py": "",
        "web/app.py": "from booths.a import _hidden\n",
        "web/routes/__init__.py": "",
        "web/routes/one.py": "from web.routes.two import helper\n",
        "web/routes/two.py": "x = 1\n" * (MAX_LINES + 1),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    found = "\n".join(violations(root))
    assert "cloudexpo/db.py:1 imports booths/a.py: only the composition root" in found
    assert "streaming/s.py:1 imports web/app.py: streaming/ may import cloudexpo" in found
    assert "streaming/cli.py:1 imports cloudexpo/app.py: the composition root joins the packages" in found
    assert "web/app.py:1 imports booths/a.py: takes a private name (_hidden)" in found
    assert "web/routes/one.py:1 imports web/routes/two.py: route modules are leaves" in found
    assert "circle of files: booths/a.py -> booths/b.py" in found
    assert f"web/routes/two.py: {MAX_LINES + 1} lines" in found
    assert "cloudexpo/app.py:1" not in found  # the composition root may import web
