"""Static files served fast: fingerprinted names, a year-long immutable cache, gzip and brotli variants.

At start-up every file under ``static/`` is copied once into ``<instance>/static/`` under a name that
carries a hash of its content (``css/app.3f2a9c1b2d4e.css``; relative ``url(...)`` references inside
CSS are rewritten to the fingerprinted names first), with ``.gz`` and ``.br`` variants made by
WhiteNoise's compressor. WhiteNoise serves that folder at ``/static/`` before the request reaches
Flask: ``Cache-Control: max-age=31536000, public, immutable``, the compressed variant the browser
accepts, ETags and ranges. ``static_url()`` (templating) links the fingerprinted name, so a changed
file gets a new URL and nobody revalidates an unchanged one. Unknown names (an old page's link)
still reach Flask's own ``/static`` route, which revalidates.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import tempfile
from pathlib import Path
from wsgiref.headers import Headers

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

log = logging.getLogger(__name__)

YEAR = 31_536_000
SKIP = frozenset({"VERSIONS"})  # bookkeeping files in static/vendor, not served
CSS_URL = re.compile(r"""url\((["']?)(?!data:|https?:|/|#)([^"')?#]+)([^"')]*)\1\)""")


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]


def _hashed_name(name: str, content: bytes) -> str:
    stem, ext = posixpath.splitext(name)
    return f"{stem}.{_digest(content)}{ext}"


def _write_once(path: Path, content: bytes) -> bool:
    """Write ``content`` at ``path`` unless it is there already (several processes may build at once)."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return True


def build(source: Path, target: Path) -> dict[str, str]:
    """Copy ``source`` into ``target`` under fingerprinted names; the manifest: logical name → fingerprinted name."""
    names = sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and p.name not in SKIP and not p.name.startswith(".")
    )
    manifest: dict[str, str] = {}
    compressor = Compressor(use_gzip=True, use_brotli=True, quiet=True)
    # Everything but CSS first: a stylesheet's references are rewritten to names known by then.
    for name in sorted(names, key=lambda n: n.endswith(".css")):
        content = (source / name).read_bytes()
        if name.endswith(".css"):
            content = _rewrite_css(name, content, manifest)
        hashed = _hashed_name(name, content)
        manifest[name] = hashed
        path = target / hashed
        if _write_once(path, content) and compressor.should_compress(str(path)):
            for _variant in compressor.compress(str(path)):
                pass  # writes path.gz and path.br when they are smaller
    return manifest


def _rewrite_css(name: str, content: bytes, manifest: dict[str, str]) -> bytes:
    """Point relative ``url(...)`` references of a stylesheet at their fingerprinted names."""
    folder = posixpath.dirname(name)

    def swap(match: re.Match[str]) -> str:
        quote, ref, rest = match.group(1), match.group(2), match.group(3)
        target = posixpath.normpath(posixpath.join(folder, ref))
        hashed = manifest.get(target)
        if hashed is None:
            return match.group(0)
        return f"url({quote}{posixpath.relpath(hashed, folder or '.')}{rest}{quote})"

    return CSS_URL.sub(swap, content.decode("utf-8")).encode("utf-8")


def _headers(headers: Headers, _path: str, _url: str) -> None:
    # WhiteNoise's "immutable" says ten years; a year is the longest the HTTP caching RFC counts on.
    headers["Cache-Control"] = f"max-age={YEAR}, public, immutable"
    headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> None:
    """Build the fingerprinted copies and serve them with WhiteNoise in front of the app."""
    source = Path(str(app.static_folder))
    target = Path(app.instance_path) / "static"
    manifest = build(source, target)
    app.extensions["static_manifest"] = manifest
    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        app.wsgi_app,
        root=str(target),
        prefix="static/",
        max_age=YEAR,
        immutable_file_test=lambda _path, _url: True,  # every file in this folder has its hash in its name
        allow_all_origins=False,  # the portal's own pages are the only ones that use these files
        add_headers_function=_headers,
    )
    log.debug("serving %d fingerprinted static files from %s", len(manifest), target)
