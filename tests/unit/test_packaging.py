"""An installed (non-editable) build ships every template, static file and migration."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_data_files_cover_every_template_static_file_and_migration() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    patterns = [p for globs in data_files.values() for p in globs]
    uncovered = []
    for top in ("templates", "static", "migrations"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(ROOT).as_posix()
                # fnmatch's * crosses "/", so compare folder depth too.
                if not any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns):
                    uncovered.append(rel)
    assert uncovered == []
