"""Route modules are leaves: what several of them share lives in a web module named after it, never in a route module."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTES = Path(__file__).parent.parent / "web" / "routes"


def route_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "web.routes":
                found.update(f"web.routes.{alias.name}" for alias in node.names)
            elif node.module.startswith("web.routes."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("web.routes."))
    return found


def test_no_route_module_imports_another() -> None:
    modules = sorted(p for p in ROUTES.glob("*.py") if p.name != "__init__.py")
    assert len(modules) > 10
    offenders = {p.name: sorted(route_imports(p)) for p in modules if route_imports(p)}
    assert offenders == {}, f"route modules importing route modules (move the shared part out of web/routes/): {offenders}"


def test_the_check_sees_an_import_of_a_route_module(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from web.routes.live import slot_json\nfrom web.routes import exhibition\nimport web.routes.qr\n")
    assert route_imports(planted) == {"web.routes.live", "web.routes.exhibition", "web.routes.qr"}
