"""The ``aggregator`` command line: demo, run, db upgrade, create-user."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

DEMO_ACCOUNTS = [
    # (email, password, full name, verified)
    ("demo@coberta.example", "Seguro#Demo2026", "Ana Demo Ruiz", True),
    ("sin.verificar@coberta.example", "Seguro#Demo2026", None, False),
]


def _create_app(*_args: object) -> Flask:
    from aggregator import create_app

    return create_app()


def register(app: Flask) -> None:
    """Attach the commands to the app (so ``flask --app aggregator`` knows them too)."""
    app.cli.add_command(db_group)
    app.cli.add_command(create_user)
    app.cli.add_command(demo)
    app.cli.add_command(sandbox_command)


# Where ``aggregator demo`` and ``aggregator sandbox`` serve each insurer's sandbox by default.
SANDBOX_PORTS = {"gnp": 8101, "australis": 8102}


def _sandbox_specs() -> dict[str, Any]:
    """Every registered connector that ships a sandbox, by slug."""
    from connectors.registry import discover

    specs = {}
    for slug, cls in discover().items():
        spec = cls.sandbox()
        if spec is not None:
            specs[slug] = (cls, spec)
    return specs


def _sandbox_port(slug: str, index: int, base: int = 8101) -> int:
    return SANDBOX_PORTS.get(slug, base + 10 + index)


@click.group("db", help="Database schema management (Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema to REVISION (default: head)."""
    from aggregator import migrate

    migrate.upgrade(current_app._get_current_object(), revision)  # type: ignore[attr-defined]
    click.echo(f"database at {revision}: {_safe_url(current_app.config['DATABASE_URL'])}")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a new migration from the models."""
    from alembic import command

    from aggregator.migrate import alembic_config

    command.revision(alembic_config(current_app._get_current_object()), message=message, autogenerate=True)  # type: ignore[attr-defined]


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ensure_user(email: str, password: str, *, full_name: str | None, verified: bool, locale: str = "es") -> bool:
    """Create a user if the email is free; True when created."""
    from aggregator.extensions import db
    from aggregator.models import Consent, User
    from aggregator.models.types import utcnow
    from aggregator.services.emails import normalize_email
    from aggregator.services.passwords import hash_password

    normalized = normalize_email(email)
    if db.session.query(User.id).filter_by(email=normalized).first():
        return False
    now = utcnow()
    user = User(
        email=normalized,
        password_hash=hash_password(password),
        verified_at=now if verified else None,
        locale=locale,
        full_name=full_name,
        phone="55 1234 5678" if full_name else None,
        country="MX",
        profile_completed_at=now if full_name else None,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    cfg = current_app.config
    db.session.add(Consent(user_id=user.id, document="terms", version=cfg["TERMS_VERSION"]))
    db.session.add(Consent(user_id=user.id, document="privacy", version=cfg["PRIVACY_VERSION"]))
    db.session.commit()
    return True


@click.command("create-user")
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "full_name", default=None)
@click.option("--verified/--unverified", default=True, show_default=True)
@click.option("--locale", type=click.Choice(["es", "en"]), default="es", show_default=True)
@with_appcontext
def create_user(email: str, password: str, full_name: str | None, verified: bool, locale: str) -> None:
    """Create a sign-in account (the password must follow the portal's rules)."""
    from aggregator.services.emails import InvalidEmail, normalize_email
    from aggregator.services.passwords import password_errors

    try:
        normalized = normalize_email(email)
    except InvalidEmail as exc:
        raise click.BadParameter("not a valid email address", param_hint="--email") from exc
    problems = password_errors(password, normalized)
    if problems:
        raise click.BadParameter("; ".join(problems), param_hint="--password")
    if not ensure_user(normalized, password, full_name=full_name, verified=verified, locale=locale):
        raise click.ClickException(f"an account with {normalized} already exists")
    click.echo(f"created {normalized} ({'verified' if verified else 'not verified'})")


@click.command("sandbox")
@click.argument("slug")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: 8101 for gnp, 8102 for australis")
@click.option("--seed", type=int, default=2026, show_default=True, help="the fictional data's seed")
@click.option("--clients", type=int, default=None, help="generate a large portfolio of N clients (load tests)")
@click.option("--latency-ms", type=int, default=0, show_default=True, help="added to every answer")
def sandbox_command(slug: str, host: str, port: int | None, seed: int, clients: int | None, latency_ms: int) -> None:
    """Serve one insurer's sandbox API alone (fictional data, fault controls at /__sandbox/faults)."""
    specs = _sandbox_specs()
    if slug not in specs:
        raise click.BadParameter(f"no sandbox called {slug!r}; known: {', '.join(specs) or 'none'}", param_hint="SLUG")
    cls, spec = specs[slug]
    options: dict[str, Any] = {"seed": seed}
    if clients:
        options["clients"] = clients
    app = spec.make_app(**options)
    from werkzeug.test import Client

    from connectors.sandbox import serve

    if latency_ms:  # through the sandbox's own fault controls (DELETE on them removes it too)
        answer = Client(app).post(spec.faults_path, json={"latency_ms": latency_ms})
        if answer.status_code != 200:
            raise click.ClickException(f"the sandbox refused the latency: {answer.get_data(as_text=True)}")
    server = serve(app, host, port if port is not None else _sandbox_port(slug, 0))
    base = f"http://{host}:{server.port}"
    click.secho(f"  {cls.display_name} sandbox — {base}", bold=True)
    for key, value in spec.settings_for(base).items():
        click.echo(f"    AGGREGATOR_{slug.upper()}_{key.upper()}={value}")
    click.echo(f"  Faults: POST/DELETE {base}{spec.faults_path}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def demo(host: str, port: int) -> None:
    """Create and migrate the database, load the demo accounts, start the insurer sandboxes, serve the portal."""
    import threading

    from werkzeug.serving import run_simple

    from aggregator import migrate
    from connectors.sandbox import serve

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    migrate.upgrade(app)
    sandboxes = []
    for index, (slug, (cls, spec)) in enumerate(_sandbox_specs().items()):
        server = serve(spec.make_app(), host, _sandbox_port(slug, index))
        threading.Thread(target=server.serve_forever, name=f"sandbox-{slug}", daemon=True).start()
        sandboxes.append((cls.display_name, f"http://{host}:{server.port}"))
    for email, password, name, verified in DEMO_ACCOUNTS:
        ensure_user(email, password, full_name=name, verified=verified)
    outbox = os.path.join(app.instance_path, "outbox")
    click.echo("")
    click.secho(f"  {app.config['PORTAL_NAME']} demo — http://{host}:{port}/", bold=True)
    click.echo("  Demo accounts (email / password):")
    for email, password, _name, verified in DEMO_ACCOUNTS:
        click.echo(f"    {email:34} {password:18} {'verified' if verified else 'email not verified yet'}")
    if sandboxes:
        click.echo("  Insurer sandboxes (fictional data):")
        for name, base in sandboxes:
            click.echo(f"    {name:34} {base}")
    mail_target = app.config.get("MAIL_URL") or f"this console and {outbox}"
    click.echo(f"  Emails (verification links...) go to {mail_target}")
    click.echo("")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


cli = FlaskGroup(
    create_app=_create_app,
    add_default_commands=True,
    add_version_option=False,
    help="Coberta, the multi-insurer self-service portal.",
)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("FLASK_RUN_HOST", "127.0.0.1")
    cli.main(args=sys.argv[1:], prog_name="aggregator")


if __name__ == "__main__":
    main()
