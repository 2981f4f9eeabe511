"""The ``aggregator`` command line: demo, run, db upgrade, create-user."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from aggregator.demo import ORG_ACCOUNTS
from aggregator.demo import PASSWORD as DEMO_PASSWORD

DEMO_ACCOUNTS = [
    # (email, password, full name, verified)
    ("demo@coberta.example", DEMO_PASSWORD, "Ana Demo Ruiz", True),
    ("sin.verificar@coberta.example", DEMO_PASSWORD, None, False),
    *((account.email, DEMO_PASSWORD, account.name, True) for account in ORG_ACCOUNTS),  # the organizations' members
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
    app.cli.add_command(sync_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(beat_command)
    app.cli.add_command(org_group)
    app.cli.add_command(grants_group)


def _sandbox_specs() -> dict[str, Any]:
    """Every registered connector that ships a sandbox, by slug."""
    from connectors.registry import discover

    specs = {}
    for slug, cls in discover().items():
        spec = cls.sandbox()
        if spec is not None:
            specs[slug] = (cls, spec)
    return specs


def _sandbox_port(slug: str, index: int) -> int:
    """Where ``aggregator demo`` and ``aggregator sandbox`` serve a sandbox (the connectors' default too)."""
    from aggregator.services.insurers import sandbox_port

    return sandbox_port(slug, index)


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


@click.group("org", help="Organizations (brokers, HR departments, accounting firms).")
def org_group() -> None:
    pass


@org_group.command("create")
@click.option("--name", required=True, help="the organization's name")
@click.option("--kind", type=click.Choice(["broker", "hr", "accounting"]), required=True)
@click.option("--owner", "owner_email", required=True, help="email of an existing account: the first owner")
@click.option("--country", type=click.Choice(["MX", "AR"]), default="MX", show_default=True)
@click.option("--tax-id", default=None, help="RFC (MX) or CUIT (AR); without it clients use the invitation code")
@with_appcontext
def org_create(name: str, kind: str, owner_email: str, country: str, tax_id: str | None) -> None:
    """Create an organization owned by an existing account; prints its slug and address."""
    from sqlalchemy import select

    from aggregator.extensions import db
    from aggregator.models import User
    from aggregator.services import orgs, taxids
    from aggregator.services.emails import try_normalize_email

    email = try_normalize_email(owner_email)
    owner = db.session.scalar(select(User).where(User.email == email)) if email else None
    if owner is None:
        raise click.BadParameter(f"no account with the email {owner_email!r}", param_hint="--owner")
    try:
        org = orgs.create_org(owner, name, kind, country, tax_id)
    except taxids.TaxIdInvalid as exc:
        db.session.rollback()
        raise click.BadParameter(exc.message, param_hint="--tax-id") from None
    except orgs.OrgError as exc:
        db.session.rollback()
        raise click.BadParameter(exc.message, param_hint=f"--{(exc.field or 'tax-id').replace('_', '-')}") from None
    db.session.commit()
    click.echo(f"created {org.slug} ({kind}, {country}), owner {owner.email}")
    click.echo(f"  /o/{org.slug}/")
    if not orgs.has_tax_id(org):
        click.echo(f"  no tax ID: clients grant access with the invitation code {orgs.format_code(org.invite_code)}")


@click.command("sandbox")
@click.argument("slug")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: 8101 for gnp, 8102 for australis")
@click.option("--seed", type=int, default=2026, show_default=True, help="the fictional data's seed")
@click.option("--clients", type=int, default=None, help="generate a large portfolio of N clients (load tests)")
@click.option("--latency-ms", type=int, default=0, show_default=True, help="every answer takes at least this long")
@click.option(
    "--policies-per-client",
    type=click.IntRange(min=1),
    default=None,
    help="every client holds N policies (its own, then generated ones, built page by page)",
)
def sandbox_command(
    slug: str,
    host: str,
    port: int | None,
    seed: int,
    clients: int | None,
    latency_ms: int,
    policies_per_client: int | None,
) -> None:
    """Serve one insurer's sandbox API alone (fictional data, fault controls at /__sandbox/faults)."""
    specs = _sandbox_specs()
    if slug not in specs:
        raise click.BadParameter(f"no sandbox called {slug!r}; known: {', '.join(specs) or 'none'}", param_hint="SLUG")
    cls, spec = specs[slug]
    options: dict[str, Any] = {"seed": seed}
    if clients:
        options["clients"] = clients
    if policies_per_client:
        options["policies_per_client"] = policies_per_client
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


@click.command("sync")
@click.option("--all", "everything", is_flag=True, help="every insurer account, due or not")
@click.option("--account", "account_ids", type=int, multiple=True, help="only this insurer account id (repeatable)")
@with_appcontext
def sync_command(everything: bool, account_ids: tuple[int, ...]) -> None:
    """Sync the insurer accounts that are due (for cron); with the thread backend, wait for them.

    It first reclaims the jobs of processes that died (queued again, or failed after several tries).
    """
    from sqlalchemy import func, select, true

    from aggregator import jobs
    from aggregator.extensions import db
    from aggregator.models import InsurerAccount
    from aggregator.services import insurers, sync

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    insurers.seed(app)
    reclaimed = jobs.reclaim_abandoned()
    if everything or account_ids:
        which = InsurerAccount.id.in_(account_ids) if account_ids else true()
        queued = len(sync.queue_syncs(which, "schedule")[1])
    else:
        queued = sync.enqueue_due()
    db.session.commit()
    backend = jobs.backend_for(app)
    jobs.dispatch_pending(app)
    if reclaimed:
        click.echo(
            f"jobs of stopped processes: {reclaimed.requeued} queued again, {reclaimed.failed} given up; "
            f"{reclaimed.resent} queued job(s) sent again"
        )
    click.echo(f"{queued} insurer account(s) queued for sync ({backend.name} backend)")
    if backend.name == "celery":
        click.echo("the Celery workers run them; see the jobs table for their state")
        return
    jobs.shutdown(app, wait=True)
    db.session.expire_all()
    rows = db.session.execute(
        select(InsurerAccount.health, func.count()).group_by(InsurerAccount.health).order_by(InsurerAccount.health)
    ).all()
    click.echo("accounts by health: " + (", ".join(f"{health} {count}" for health, count in rows) or "none"))


@click.group("grants", help="Clients' grants to organizations.")
def grants_group() -> None:
    pass


@grants_group.command("expire")
@with_appcontext
def grants_expire() -> None:
    """Email the reminders of grants ending within 7 days; record grants past their end (daily; idempotent)."""
    from aggregator.worker import run_grant_expiry

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run = run_grant_expiry(app)
    click.echo(f"{run.reminded} grant(s) ending within 7 days: holders reminded; {run.expired} grant(s) expired")


@click.command("worker")
@click.option(
    "--concurrency", type=int, default=16, show_default=True, help="jobs run at once (threads; syncs wait on insurers)"
)
@click.option("--loglevel", default="INFO", show_default=True)
@with_appcontext
def worker_command(concurrency: int, loglevel: str) -> None:
    """Run a Celery worker for sync jobs (needs AGGREGATOR_REDIS_URL and AGGREGATOR_JOBS_BACKEND=celery)."""
    from aggregator.worker import start_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    start_worker(app, concurrency, loglevel)


@click.command("beat")
@click.option("--loglevel", default="INFO", show_default=True)
@with_appcontext
def beat_command(loglevel: str) -> None:
    """Run Celery beat: queue the syncs that are due every SYNC_SCHEDULE_SECONDS (instead of cron's `sync`)."""
    from aggregator.worker import start_beat

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    start_beat(app, loglevel)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--policies-per-client",
    type=click.IntRange(min=1),
    default=None,
    help="the demo user's clients hold N policies at each insurer (generated page by page; synced in the background)",
)
@with_appcontext
def demo(host: str, port: int, policies_per_client: int | None) -> None:
    """Create and migrate the database, start the insurer sandboxes, load the demo accounts and serve the portal."""
    from werkzeug.serving import run_simple

    from aggregator import migrate

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    migrate.upgrade(app)
    if policies_per_client:
        _allow_long_syncs(app)
    sandboxes = _start_demo_sandboxes(host, policies_per_client) if policies_per_client else _start_demo_sandboxes(host)
    for email, password, name, verified in DEMO_ACCOUNTS:
        ensure_user(email, password, full_name=name, verified=verified)
    linked = seed_demo_profiles(app, DEMO_ACCOUNTS[0][0])
    seeded_orgs = seed_demo_orgs(app, host, port)
    _start_scheduler(app)
    outbox = os.path.join(app.instance_path, "outbox")
    click.echo("")
    click.secho(f"  {app.config['PORTAL_NAME']} demo — http://{host}:{port}/", bold=True)
    click.echo("  Demo accounts (email / password):")
    for email, password, _name, verified in DEMO_ACCOUNTS:
        click.echo(f"    {email:34} {password:18} {'verified' if verified else 'email not verified yet'}")
    if linked:
        click.echo(f"  {DEMO_ACCOUNTS[0][0]} holds: {linked}")
    _print_demo_orgs(seeded_orgs, host, port)
    if sandboxes:
        click.echo("  Insurer sandboxes (fictional data):")
        for name, base, own in sandboxes:
            click.echo(f"    {name:34} {base}{'' if own else '  (already running: yours)'}")
    if policies_per_client:
        click.echo(
            f"  {DEMO_ACCOUNTS[0][0]}'s clients hold {policies_per_client:,} policies at each insurer: their first "
            "syncs run in the background (minutes for tens of thousands); Mis seguros shows each as it finishes"
        )
        for name, _base, own in sandboxes:
            if not own:
                click.secho(f"  {name}: already running, so --policies-per-client does not apply to it", fg="yellow")
    from aggregator.demo import MANUAL_PAIRS

    click.echo("  Pairs for linking a profile by hand (ID type, ID number, policy number):")
    for pair in MANUAL_PAIRS:
        click.echo(f"    {pair.insurer:10} {pair.id_type:5} {pair.id_number:14} {pair.policy_number:16} {pair.name}")
    mail_url = app.config.get("MAIL_URL")
    mail_target = _safe_url(mail_url) if mail_url else f"this console and {outbox}"
    click.echo(f"  Emails (verification links...) go to {mail_target}")
    click.echo("  Its data lives in (delete the instance folder to start afresh):")
    for what, where in data_locations(app):
        click.echo(f"    {what:34} {where}")
    click.echo("")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def data_locations(app: Flask) -> list[tuple[str, str]]:
    """Where the portal keeps its data: (what, where) for the instance folder, database, outbox and secret key."""
    from pathlib import Path

    instance = Path(app.instance_path).resolve()
    key_file = instance / "secret_key"
    from_file = key_file.is_file() and key_file.read_text(encoding="utf-8").strip() == app.config["SECRET_KEY"]
    mail_url = app.config.get("MAIL_URL")
    return [
        ("Instance folder", str(instance)),
        ("Database", _safe_url(app.config["DATABASE_URL"])),
        ("Email outbox", f"none: emails go to {_safe_url(mail_url)}" if mail_url else str(instance / "outbox")),
        ("Secret key", str(key_file) if from_file else "from AGGREGATOR_SECRET_KEY (not stored)"),
    ]


def _allow_long_syncs(app: Flask) -> None:
    """Large demo clients are fetched from sandboxes running in this very process, sharing its CPU: give their
    syncs an hour (the sync lock, and the whole-fetch cap of the connectors' HTTP policy)."""
    from aggregator.services import insurers

    app.config["SYNC_LOCK_MINUTES"] = max(float(app.config.get("SYNC_LOCK_MINUTES") or 10), 60.0)
    policy = dict(app.config.get("CONNECTOR_HTTP_POLICY") or {})
    policy["fetch_deadline"] = max(float(policy.get("fetch_deadline") or 0), 45 * 60.0)
    app.config["CONNECTOR_HTTP_POLICY"] = policy
    insurers.reset_connectors(app)


def _start_demo_sandboxes(host: str, policies_per_client: int | None = None) -> list[tuple[str, str, bool]]:
    """Serve each sandbox on its usual port, unless something (your own ``aggregator sandbox``) already does.

    ``policies_per_client``: the demo user's clients (by the tax IDs of ``DEMO_PAIRS``) hold that many policies,
    generated page by page when asked for, never all in memory; the sandboxes' other clients are as usual.
    """
    import socket
    import threading

    from aggregator.demo import DEMO_PAIRS
    from connectors.sandbox import serve

    options: dict[str, Any] = {}
    if policies_per_client:
        options = {
            "policies_per_client": policies_per_client,
            "large_clients": sorted({p.id_number for p in DEMO_PAIRS}),
        }
    started = []
    for index, (slug, (cls, spec)) in enumerate(_sandbox_specs().items()):
        port = _sandbox_port(slug, index)
        with socket.socket() as probe:
            taken = probe.connect_ex((host, port)) == 0
        if not taken:
            server = serve(spec.make_app(**options), host, port, quiet=bool(policies_per_client))
            threading.Thread(target=server.serve_forever, name=f"sandbox-{slug}", daemon=True).start()
        started.append((cls.display_name, f"http://{host}:{port}", not taken))
    return started


def seed_demo_profiles(app: Flask, email: str) -> str:
    """Link the demo user's client profiles through the real linking path and sync them; a summary line."""
    from sqlalchemy import select

    from aggregator import jobs, mail
    from aggregator.demo import DEMO_PAIRS
    from aggregator.extensions import db
    from aggregator.models import User
    from aggregator.services import linking

    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        return ""
    names: list[str] = []
    for pair in DEMO_PAIRS:
        with app.test_request_context("/profiles/link", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            user = db.session.get(User, user.id)
            assert user is not None
            result = linking.link_by_tax_id(user, pair.id_type, pair.id_number, pair.policy_number)
            db.session.commit()
            mail.flush_queued(app)
            jobs.dispatch_pending(app)
        if not result.ok:
            click.secho(f"  could not link {pair.name} at {pair.insurer}: is its sandbox running?", fg="yellow")
        elif pair.name not in names:
            names.append(pair.name)
    return ", ".join(names)


def _demo_base_url(host: str, port: int) -> str:
    """Where the demo serves, as its emails link to it (a wildcard address is reached on loopback)."""
    import ipaddress

    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"
    return f"http://{host}:{port}"


def seed_demo_orgs(app: Flask, host: str, port: int) -> list[Any]:
    """The demo's organizations (``aggregator.demo.seed_organizations``): a broker with an agent, an HR department."""
    from aggregator.demo import seed_organizations

    return seed_organizations(app, _demo_base_url(host, port))


def _print_demo_orgs(seeded: list[Any], host: str, port: int) -> None:
    """Each organization: its address, its members and what each is for, its clients, what went wrong."""
    if not seeded:
        return
    base = _demo_base_url(host, port)
    click.echo("  Organizations (sign in, then pick the organization in the navbar's switcher):")
    for done in seeded:
        org = done.org
        click.echo(f"    {org.name:34} {base}/o/{org.slug}/")
        for account in (org.owner, *org.agents):
            click.echo(f"      {account.email:32} {account.role}")
        if done.clients:
            click.echo(f"      clients: {', '.join(done.clients)}")
        if done.invited:
            click.echo(f'      {done.invited} gave it access from {DEMO_ACCOUNTS[0][0]}\'s "Acceso" page (invitation)')
        for problem in done.problems:
            click.secho(f"      {problem}", fg="yellow")


def _start_scheduler(app: Flask, every_seconds: float = 60.0) -> None:
    """The demo's cron: queue the syncs that are due, every minute (errors are retried here too)."""
    import threading
    import time

    def loop() -> None:
        from aggregator.extensions import db
        from aggregator.services import sync

        last_expiry = time.monotonic() - 86400  # the first minute runs it too
        while True:
            time.sleep(every_seconds)
            with app.app_context():
                from aggregator import jobs

                try:
                    jobs.reclaim_abandoned()  # jobs a stopped demo left queued or running
                    sync.enqueue_due()
                    db.session.commit()
                    jobs.dispatch_pending(app)
                except Exception:  # the loop must survive a bad minute (database locked...)
                    current_app.logger.exception("scheduled sync failed")
                    db.session.rollback()
                    jobs.discard_pending()
            if time.monotonic() - last_expiry >= 86400:  # once a day: grants' reminders and expiry
                try:
                    from aggregator.worker import run_grant_expiry

                    run_grant_expiry(app)
                    last_expiry = time.monotonic()
                except Exception:
                    app.logger.exception("the daily run over grants to organizations failed")

    threading.Thread(target=loop, name="sync-scheduler", daemon=True).start()


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
