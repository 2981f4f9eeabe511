"""Outgoing email: rendered in the recipient's language (HTML + text), sent after the request or job commits.

``MAIL_URL=smtp://host:port`` (or ``smtps://user:password@host:port``) sends over SMTP; without it
every message is printed to the console and written to ``instance/outbox/`` so a newcomer can
click the verification link.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, g, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

log = logging.getLogger(__name__)

SUBJECTS: dict[str, Any] = {
    "verify_email": _l("Confirm your email address"),
    "already_registered": _l("Someone tried to register with your email"),
    "password_reset": _l("Reset your password"),
    "password_changed": _l("Your password was changed"),
    "email_change_verify": _l("Confirm your new email address"),
    "email_change_notice": _l("Your account email is being changed"),
    "provider_linked": _l("A sign-in method was connected to your account"),
    "provider_unlinked": _l("A sign-in method was removed from your account"),
    "account_deleted": _l("Your account was deleted"),
    "profile_linked_notice": _l("A client profile of yours was linked to another account"),
    # Intermediaries (issue 10): the templates are email/<kind>.html and .txt.
    "org_invitation": _l("You are invited to join an organization"),
    "org_access_granted": _l("An organization can now see one of your client profiles"),
    "org_access_request": _l("An organization asks for access to your insurance"),
    "org_access_decided": _l("A client answered your access request"),
    "org_grant_expiring": _l("An organization's access to your profile ends soon"),
}

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
_outbox_lock = threading.Lock()


def send(to: str, kind: str, locale: str, **context: Any) -> None:
    """Render and queue one email; it leaves after the request's transaction commits."""
    with force_locale(locale):
        subject = str(SUBJECTS[kind])
        text = render_template(f"email/{kind}.txt", subject=subject, email_lang=locale, **context)
        html = render_template(f"email/{kind}.html", subject=subject, email_lang=locale, **context)
    cfg = current_app.config
    msg = EmailMessage()
    msg["Subject"] = f"{cfg['PORTAL_NAME']}: {subject}"
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="coberta.example")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg["Content-Language"] = locale  # after the content: set_content() drops Content-* headers
    # Queued on the request's or the job's app context: an email about something that then rolls
    # back is never sent. The request hook and ``jobs.run_job`` flush after their commit.
    g.setdefault("outgoing_mail", []).append(msg)


def flush_queued(app: Flask) -> None:
    """Deliver the messages queued in this app context (call after a successful commit)."""
    queued: list[EmailMessage] = g.pop("outgoing_mail", [])
    for msg in queued:
        if app.config["MAIL_ASYNC"]:
            _executor.submit(deliver, app, msg)
        else:
            deliver(app, msg)


def discard_queued() -> None:
    """Forget queued messages (the transaction that produced them rolled back)."""
    g.pop("outgoing_mail", None)


def deliver(app: Flask, msg: EmailMessage) -> None:
    """Send one message through the configured transport; failures are logged, never raised."""
    try:
        url = app.config.get("MAIL_URL")
        if url:
            _send_smtp(str(url), msg)
        else:
            _write_outbox(Path(app.instance_path) / "outbox", msg)
    except Exception:
        log.exception("could not deliver email %r to %s", msg["Subject"], msg["To"])


def _send_smtp(url: str, msg: EmailMessage) -> None:
    parts = urlsplit(url)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "smtps":
        with smtplib.SMTP_SSL(host, port, timeout=15, context=ssl.create_default_context()) as smtp:
            _login_and_send(smtp, parts, msg)
        return
    with smtplib.SMTP(host, port, timeout=15) as smtp:
        if "starttls=1" in (parts.query or ""):
            smtp.starttls(context=ssl.create_default_context())
        _login_and_send(smtp, parts, msg)


def _login_and_send(smtp: smtplib.SMTP, parts: Any, msg: EmailMessage) -> None:
    if parts.username:
        smtp.login(unquote(parts.username), unquote(parts.password or ""))
    smtp.send_message(msg)


def _write_outbox(folder: Path, msg: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    with _outbox_lock:
        (folder / f"{stamp}.eml").write_bytes(bytes(msg))
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    print(
        f"\n----- email to {msg['To']} -----\nSubject: {msg['Subject']}\n\n{text}\n----- saved in {folder} -----\n",
        file=sys.stdout,
        flush=True,
    )
