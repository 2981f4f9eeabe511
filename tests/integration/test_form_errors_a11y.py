"""Form errors are tied to their fields: aria-invalid and aria-describedby naming the error text (WCAG 3.3.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import STRONG_PASSWORD, Mailbox, csrf_token, register_verified

HX = {"HX-Request": "true"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def ancestors_and_self(self) -> list[Element]:
        chain: list[Element] = []
        node: Element | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain


class _Page(HTMLParser):
    """Every element with its attributes, its parent and the text inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text.append(data)


def parse(html: str) -> list[Element]:
    """The page's elements in document order."""
    page = _Page()
    page.feed(html)
    return page.elements


def assert_errors_tied(html: str, expected_fields: set[str]) -> None:
    """Exactly ``expected_fields`` are invalid, each names its error text; every error text is named by a field."""
    elements = parse(html)
    by_id = {e.attrs["id"]: e for e in elements if "id" in e.attrs}
    fields = [e for e in elements if e.tag in ("input", "select", "textarea")]
    invalid = {e.attrs.get("id", "") for e in fields if e.attrs.get("aria-invalid") == "true"}
    assert invalid == expected_fields
    marked = {e.attrs.get("id", "") for e in fields if "is-invalid" in e.classes}
    assert marked == invalid, "every field shown in red is aria-invalid, and only those"
    described: set[str] = set()
    for f in fields:
        if f.attrs.get("aria-invalid") != "true":
            continue
        ids = f.attrs.get("aria-describedby", "").split()
        missing = [i for i in ids if i not in by_id]
        assert ids and not missing, f"{f.attrs['id']}: aria-describedby {ids} (not in the page: {missing})"
        described.update(ids)
    feedback = [e for e in elements if "invalid-feedback" in e.classes]
    assert len(feedback) >= len(expected_fields)
    for box in feedback:
        assert {e.attrs.get("id") for e in box.ancestors_and_self()} & described, (
            f"error text {' '.join(box.text).strip()!r} is not named by its field's aria-describedby"
        )


def test_register_errors_are_tied_to_their_fields(client: FlaskClient) -> None:
    token = csrf_token(client, "/auth/register")
    data = {"csrf_token": token, "email": "ana@example.com", "password": STRONG_PASSWORD, "password_confirm": "otra"}
    response = client.post("/auth/register", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert_errors_tied(html, {"password_confirm", "accept_terms"})
    # The password field names its live rules; without an error it is not marked invalid.
    assert 'aria-describedby="password-rules"' in html


def test_a_valid_page_has_no_invalid_fields(client: FlaskClient) -> None:
    html = client.get("/auth/register").get_data(as_text=True)
    assert_errors_tied(html, set())
    assert "aria-invalid" not in html


def test_forgot_password_error_is_tied_to_the_email_field(client: FlaskClient) -> None:
    token = csrf_token(client, "/auth/forgot")
    response = client.post("/auth/forgot", data={"csrf_token": token, "email": "no-es-un-correo"})
    assert_errors_tied(response.get_data(as_text=True), {"email"})


@pytest.fixture
def signed_in(client: FlaskClient, mailbox: Mailbox) -> FlaskClient:
    register_verified(client, mailbox, "formas@example.com")
    return client


def test_account_forms_tie_errors_with_help_texts_kept(signed_in: FlaskClient) -> None:
    token = csrf_token(signed_in, "/account/profile")
    response = signed_in.post(
        "/account/profile", data={"csrf_token": token, "full_name": "", "phone": "12", "country": "MX"}
    )
    assert response.status_code == 422
    assert_errors_tied(response.get_data(as_text=True), {"full_name", "phone"})

    token = csrf_token(signed_in, "/account/security")
    data = {"csrf_token": token, "new_email": "no-es-un-correo", "current_password": STRONG_PASSWORD}
    html = signed_in.post("/account/security/email", data=data).get_data(as_text=True)
    assert_errors_tied(html, {"new_email"})
    # A field with a help text names both, help first.
    token = csrf_token(signed_in, "/account/privacy")
    data = {"csrf_token": token, "current_password": "no-es-la-clave", "confirm": "y"}
    html = signed_in.post("/account/delete", data=data).get_data(as_text=True)
    assert_errors_tied(html, {"current_password"})
    assert 'aria-describedby="current_password-help current_password-error"' in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_link_form_errors_are_tied_to_their_fields(app: Flask, signed_in: FlaskClient, htmx: bool) -> None:
    token = csrf_token(signed_in, "/profiles/link")
    data = {"csrf_token": token, "id_type": "RFC", "id_number": "", "policy_number": ""}
    response = signed_in.post("/profiles/link", data=data, headers=HX if htmx else {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert_errors_tied(html, {"id_number", "policy_number"})
    # The live check's answer keeps the field's state for app.js (data-invalid-for).
    assert 'data-invalid-for="id_number"' in html and 'data-invalid="true"' in html
