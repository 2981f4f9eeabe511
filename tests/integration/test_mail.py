"""Every email exists in HTML and plain text, in the recipient's language, through real SMTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from aggregator import mail
from tests.conftest import Mailbox, html_body, text_body

CONTEXT: dict[str, Any] = {
    "verify_url": "http://portal.example/auth/verify/T",
    "hours": 48,
    "login_url": "http://portal.example/auth/login",
    "reset_url": "http://portal.example/auth/reset/T",
    "minutes": 60,
    "when": datetime(2026, 11, 26, 16, 42, tzinfo=UTC),
    "confirm_url": "http://portal.example/auth/confirm-email/T",
    "new_email": "nuevo@example.com",
    "provider": "Google",
    "profile_name": "Mateo Ortiz Gómez",
    "masked_id": "RFC …IM6",
    "profiles_url": "http://portal.example/profiles",
    # intermediaries (issue 10)
    "org_name": "Broker Demo",
    "org_kind": "broker",
    "org_tax_id": "RFC …AB1",
    "scope": "Ver",
    "scope_hint": "Pólizas, recibos, siniestros y documentos.",
    "origin": "invitación",
    "hr_claims": False,
    "expires_at": datetime(2026, 12, 30, 12, 0, tzinfo=UTC),
    "insurers": "GNP Seguros, Australis",
    "access_url": "http://portal.example/profiles/1/access",
    "requester": "Bruno Kessler",
    "message": "Hola, soy tu productor.",
    "answer_url": "http://portal.example/orgs/requests/T",
    "register_url": "http://portal.example/auth/register",
    "client_email": "cliente@example.com",
    "approved": True,
    "requests_url": "http://portal.example/o/broker-demo/requests",
    "inviter": "Bruno Kessler",
    "role": "agent",
    "url": "http://portal.example/orgs/invitations/T",
}
SPANISH_SUBJECT_WORDS = {
    "verify_email": "Confirma",
    "already_registered": "registrarse",
    "password_reset": "Restablece",
    "password_changed": "contraseña",
    "email_change_verify": "nuevo correo",
    "email_change_notice": "correo de tu cuenta",
    "provider_linked": "Se conectó",
    "provider_unlinked": "Se quitó",
    "account_deleted": "eliminada",
    "profile_linked_notice": "perfil de cliente",
    "org_invitation": "organización",
    "org_access_granted": "organización",
    "org_access_request": "acceso",
    "org_access_decided": "solicitud",
    "org_grant_expiring": "acceso",
}


@pytest.mark.parametrize("kind", sorted(mail.SUBJECTS))
def test_each_email_in_spanish_and_english(app: Flask, mailbox: Mailbox, kind: str) -> None:
    with app.test_request_context("/"):
        mail.send("es@example.com", kind, "es", **CONTEXT)
        mail.send("en@example.com", kind, "en", **CONTEXT)
        mail.flush_queued(app)
    spanish = mailbox.wait_for("es@example.com")
    english = mailbox.wait_for("en@example.com")
    assert SPANISH_SUBJECT_WORDS[kind] in str(spanish["Subject"])
    assert str(spanish["Subject"]) != str(english["Subject"])
    for msg, lang in ((spanish, "es"), (english, "en")):
        assert msg["Content-Language"] == lang
        assert f'<html lang="{lang}">' in html_body(msg)
        text = text_body(msg)
        assert text.strip() and "<" not in text  # the plain part is really plain
        for value in ("verify_url", "reset_url", "confirm_url", "login_url", "access_url", "answer_url", "url"):
            if CONTEXT[value] in html_body(msg):
                assert CONTEXT[value] in text  # every link of the HTML part is in the text part too
    assert "Recibes este correo" in html_body(spanish)
