"""The foundation answers: pages, health, registration through real SMTP, sign-in."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import Mailbox, login, register_verified


def test_healthz_reports_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "version": "0.1.0"}


def test_register_verify_and_sign_in(client: FlaskClient, mailbox: Mailbox) -> None:
    response = register_verified(client, mailbox, "ana@example.com")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/profile")
    home = client.get("/")
    assert home.status_code == 200
    assert "ana@example.com" in home.get_data(as_text=True)
    client.post("/auth/logout", data={"csrf_token": __import__("tests.conftest").conftest.csrf_token(client, "/")})
    assert client.get("/").status_code == 302
    assert login(client, "ana@example.com").status_code == 302
