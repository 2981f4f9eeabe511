"""Responses leave small and cacheable: compressed pages, fingerprinted static files, CSRF tokens masked per page."""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import re
from pathlib import Path

import brotli
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm

import aggregator
from aggregator.forms import Form, mask_token, unmask_token
from tests.conftest import Mailbox, csrf_from, login, register_verified, strip_csrf

ASSET_RE = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def test_pages_are_compressed_as_the_browser_accepts(client: FlaskClient) -> None:
    plain = client.get("/auth/login", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    zipped = client.get("/auth/login", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    page = gzip.decompress(zipped.data).decode()
    assert strip_csrf(page) == strip_csrf(plain.get_data(as_text=True))
    squeezed = client.get("/auth/login", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert squeezed.headers["Content-Encoding"] == "br"
    assert len(squeezed.data) < len(plain.data) / 2  # a small page, with incompressible masked tokens
    assert strip_csrf(brotli.decompress(squeezed.data).decode()) == strip_csrf(page)


def test_signed_in_pages_and_fragments_are_compressed_too(app: Flask, mailbox: Mailbox) -> None:
    browser = app.test_client()
    register_verified(browser, mailbox, "comprimido@example.com")
    page = browser.get("/account/", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    assert page.headers["Cache-Control"] == "no-store"  # private pages stay out of caches, compressed or not


def test_static_files_are_fingerprinted_compressed_and_cached_for_a_year(app: Flask, client: FlaskClient) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    assets = ASSET_RE.findall(html)
    assert assets and all(re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", a) for a in assets), assets
    static = Path(str(app.static_folder))
    for url in assets:
        logical = re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", url.removeprefix("/static/"))
        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress), ("identity", bytes)):
            with client.get(url, headers={"Accept-Encoding": encoding}) as answer:
                assert answer.status_code == 200, url
                assert answer.headers["Cache-Control"] == "max-age=31536000, public, immutable"
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                if url.endswith((".css", ".js")) and encoding != "identity":  # big text files go compressed
                    assert answer.headers.get("Content-Encoding") == encoding, url
                body = decode(answer.data) if answer.headers.get("Content-Encoding") == encoding else answer.data
            if not logical.endswith(".css"):  # stylesheets point at fingerprinted names: compared below
                assert body == (static / logical).read_bytes(), url
    css_url = next(a for a in assets if "/css/app." in a)
    with client.get(css_url) as answer:
        css = answer.get_data(as_text=True)
    refs = re.findall(r'url\("(\.\./vendor/icons/[^"]+)"\)', css)
    assert refs and all(re.search(r"\.[0-9a-f]{12}\.svg$", r) for r in refs)
    for ref in refs:  # each reference resolves, relative to the stylesheet, to a served file
        target = "/static/" + str(Path("css") / ref).replace("css/../", "")
        with client.get(target) as answer:
            assert answer.status_code == 200, target


def test_a_name_without_its_fingerprint_still_works_but_is_revalidated(client: FlaskClient) -> None:
    with client.get("/static/css/app.css") as answer:
        assert answer.status_code == 200
        assert "immutable" not in answer.headers.get("Cache-Control", "")


def test_csrf_tokens_differ_on_every_page_and_all_of_them_work(app: Flask, mailbox: Mailbox) -> None:
    browser = app.test_client()
    register_verified(browser, mailbox, "mascara@example.com")
    browser.post("/auth/logout", data={"csrf_token": csrf_from(browser.get("/").get_data(as_text=True))})
    tokens = [csrf_from(browser.get("/auth/login").get_data(as_text=True)) for _ in range(3)]
    assert len(set(tokens)) == 3
    with browser.session_transaction() as sess:
        raw = sess["csrf_token"]
    assert not any(raw in t for t in tokens)  # the session's secret never appears as such
    assert login(browser, "mascara@example.com").status_code == 302
    stale = app.test_client()
    stale.get("/auth/login")
    assert (
        stale.post("/auth/login", data={"csrf_token": tokens[0], "email": "x@example.com", "password": "x"}).status_code
        == 400
    )


def test_masking_round_trips_and_refuses_tampering() -> None:
    token = "IjdkMTQ5ZjU0NTE5ZDI5N2E2ZTdkNzg2ZjlkYmU3YmI1YjQ0NmNhYTAi.aw_1qQ.abcdefghi-jklmnop"
    masked = mask_token(token)
    assert masked != mask_token(token) and unmask_token(masked) == token
    assert unmask_token(token) == token  # not a masked value: passed on unchanged (and then refused)
    flipped = masked[:-6] + ("A" if masked[-6] != "A" else "B") + masked[-5:]
    assert unmask_token(flipped) != token
    assert unmask_token("") == "" and unmask_token(None) is None


def test_every_form_of_the_portal_masks_its_token() -> None:
    for module in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        importlib.import_module(module.name)
    unmasked = [
        cls.__qualname__
        for cls in _subclasses(FlaskForm)
        if cls.__module__.startswith("aggregator") and not issubclass(cls, Form)
    ]
    assert not unmasked, f"forms that would print the raw CSRF token: {unmasked}"


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
