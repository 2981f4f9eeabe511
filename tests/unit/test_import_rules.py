"""DESIGN §2 import rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_connectors_stand_alone() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"aggregator", "flask", "sqlalchemy"})
        for p in (ROOT / "connectors").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_htmx_module_reads_hx_headers() -> None:
    readers = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "aggregator").rglob("*.py")
        if p.name != "htmx.py" and ("request.htmx" in p.read_text() or 'headers.get("HX-' in p.read_text())
    ]
    assert readers == []
