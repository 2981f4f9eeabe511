"""Coberta, the multi-insurer self-service portal: the application factory."""

from __future__ import annotations

import logging
import os
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, has_request_context, request
from werkzeug.exceptions import NotFound, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from aggregator import assets, fragments, mail, security
from aggregator.config import CONFIGS, load_secret_key
from aggregator.extensions import babel, compress, csrf, db, htmx, limiter, login_manager, oauth
from aggregator.forms import masked_csrf_token
from aggregator.i18n import date_short, datetime_short, install_fast_gettext, money, select_locale
from aggregator.services.passwords import check_password
from aggregator.templating import icon, page_url, static_url

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
LOCAL_HOSTS = ("localhost", "127.0.0.1")  # the hosts a portal without EXTERNAL_URL answers by default


def asset_dir(name: str) -> str:
    """Where a top-level folder (templates, static, migrations) lives: checkout first, then the install."""
    candidates = [PACKAGE_DIR.parent / name, Path(sysconfig.get_path("data")) / "share" / "aggregator" / name]
    for candidate in candidates:
        if candidate.is_dir():
            return str(candidate)
    raise RuntimeError(f"cannot find the {name}/ folder (looked in {', '.join(map(str, candidates))})")


class DatabaseId(IntegerConverter):
    """``<int:…>`` in routes: 0 … 2**31-1, the range of an id column on every backend; anything larger is a 404."""

    MAX = 2**31 - 1

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.MAX:
            # Not found, rather than the converter's "no match": Werkzeug would answer that with a 405
            # when another method's rule shares the path (GET and POST /profiles/<id>/unlink).
            raise NotFound()
        return number


def create_app(config: Mapping[str, Any] | str | None = None) -> Flask:
    """Build the portal. ``config`` is a config name or a mapping applied after the environment."""
    # ./instance of the working directory (README), never next to the code: an installed package lives in
    # site-packages, which is no place for a database and a secret key.
    instance_path = os.environ.get("AGGREGATOR_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    app = Flask(
        __name__,
        template_folder=asset_dir("templates"),
        static_folder=asset_dir("static"),
        instance_path=os.path.abspath(instance_path),
    )
    overrides: dict[str, Any] = {}
    env_name = os.environ.get("AGGREGATOR_ENV", "development")
    if isinstance(config, str):
        env_name = config
    elif config is not None:
        overrides = dict(config)
        env_name = str(overrides.pop("ENV_NAME", env_name))
    app.config.from_object(CONFIGS[env_name])
    app.config.from_prefixed_env("AGGREGATOR")
    app.config.update(overrides)
    _fill_defaults(app)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Client addresses (rate limits, sessions, audit) and https links come from the proxy's headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    # Ids are 32-bit columns: a larger number in a URL is simply not found, never a database error.
    app.url_map.converters["int"] = DatabaseId
    assets.init_app(app)  # fingerprinted static files, served by WhiteNoise ahead of the app
    _init_extensions(app)
    _register_blueprints(app)
    _register_hooks(app)
    security.init_app(app)

    from aggregator import cli

    cli.register(app)
    return app


def _fill_defaults(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "aggregator.db")
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    if redis_url and app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        app.config["RATELIMIT_STORAGE_URI"] = redis_url
    app.config["EXTERNAL_URL"], app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)


def trusted_hosts(config: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """(EXTERNAL_URL without its trailing slash, the Host names this portal answers; any other gets 400).

    Emailed links are built from EXTERNAL_URL, never from a request's Host (DESIGN §7); production
    refuses to start without it. Without it (the demo, tests) links use the request's host, which
    Werkzeug only accepts when it is in the list (local names by default).
    """
    extra = config.get("TRUSTED_HOSTS") or []
    if isinstance(extra, str):
        extra = extra.split(",")
    hosts = [str(h).strip().lower() for h in extra if str(h).strip()]
    external = str(config.get("EXTERNAL_URL") or "").strip().rstrip("/") or None
    if external:
        parts = urlsplit(external)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise RuntimeError(
                "AGGREGATOR_EXTERNAL_URL must be the portal's base URL, like https://portal.example.com "
                f"(got {external!r})"
            )
        return external, [parts.hostname, *hosts]
    if config.get("ENV_NAME") == "production":
        raise RuntimeError(
            "AGGREGATOR_EXTERNAL_URL is required in production: links in emails are built from it, "
            "never from a request's Host header (e.g. AGGREGATOR_EXTERNAL_URL=https://portal.example.com)"
        )
    return None, hosts or list(LOCAL_HOSTS)


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    htmx.init_app(app)
    csrf.init_app(app)
    # Masked afresh on every page (aggregator/forms.py): compressed pages must not repeat a secret.
    app.jinja_env.globals["csrf_token"] = masked_csrf_token
    compress.init_app(app)  # HTML and fragments: brotli or gzip, as the browser accepts
    fragments.init_app(app)  # rendered parts of the insurance pages, until a sync changes their data
    limiter.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(PACKAGE_DIR / "translations"),
    )
    install_fast_gettext(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # our own server-side sessions do this job
    oauth.init_app(app)

    from aggregator.auth.session_loader import load_user_from_session, unauthorized

    login_manager.request_loader(load_user_from_session)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.user_loader(lambda _id: None)  # never trust Flask-Login's own cookie field

    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["date_short"] = date_short
    app.jinja_env.filters["datetime_short"] = datetime_short
    app.jinja_env.globals["icon"] = icon
    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["blank_password_rules"] = lambda: check_password("", "")
    from aggregator.orgs.labels import org_kind_label, role_label
    from aggregator.services.access import workspaces_of

    app.jinja_env.globals["workspaces_of"] = workspaces_of
    app.jinja_env.globals["org_kind_label"] = org_kind_label
    app.jinja_env.globals["role_label"] = role_label


def _register_blueprints(app: Flask) -> None:
    from aggregator.account.views import bp as account_bp
    from aggregator.auth.oauth import bp as oauth_bp
    from aggregator.auth.oauth import register_providers
    from aggregator.auth.views import bp as auth_bp
    from aggregator.orgs import bp as orgs_bp
    from aggregator.orgs import ws_bp as workspace_bp
    from aggregator.policies.views import bp as policies_bp
    from aggregator.portal.views import bp as portal_bp
    from aggregator.portal.views import pages as pages_bp
    from aggregator.profiles import sharing  # noqa: F401  (registers the "Acceso" routes on profiles)
    from aggregator.profiles.views import bp as profiles_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(profiles_bp)
    app.register_blueprint(policies_bp)
    app.register_blueprint(orgs_bp)
    app.register_blueprint(workspace_bp)
    register_providers(app)


def _register_hooks(app: Flask) -> None:
    from aggregator import jobs
    from aggregator.services import access, sync  # noqa: F401  (sync registers its job handler)

    jobs.init_app(app)  # production refuses to run syncs in the web workers unless told to
    app.before_request(access.guard_unverified)

    @app.after_request
    def _commit(response: Response) -> Response:
        # Services flush; the request commits when the view returned normally (DESIGN §10).
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            mail.discard_queued()
            jobs.discard_pending()
            raise
        mail.flush_queued(app)
        jobs.dispatch_pending(app)
        return response

    @app.teardown_request
    def _forget_mail(exc: BaseException | None) -> None:
        if exc is not None:
            mail.discard_queued()
            jobs.discard_pending()

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from aggregator.auth.oauth import provider_buttons

        return {
            "csrf_token": masked_csrf_token,  # over Flask-WTF's own context processor
            "portal_name": app.config["PORTAL_NAME"],
            "current_lang": str(select_locale()),
            "social_providers": provider_buttons(),
            "request_path": request.path if has_request_context() else "",  # emails from jobs have none
            "user_session": g.get("user_session"),
        }

    @app.errorhandler(429)
    def _too_many(_exc: Exception) -> tuple[str, int]:
        from flask import render_template

        return render_template("errors/429.html"), 429

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> tuple[str, int]:
        from flask import render_template

        return render_template("errors/404.html"), 404

    @app.errorhandler(access.VerificationRequired)
    def _verify_first(_exc: Exception) -> tuple[str, int]:
        from flask import render_template

        return render_template("portal/verify_first.html"), 403

    @app.errorhandler(SecurityError)
    def _untrusted_host(_exc: Exception) -> tuple[str, int, dict[str, str]]:
        # No template: without a trusted host there is no URL to build (DESIGN §7).
        return "400 Bad Request: this portal does not answer to that host name.\n", 400, {"Content-Type": "text/plain"}

    @app.errorhandler(400)
    def _bad_request(_exc: Exception) -> tuple[str, int]:
        # Mostly an expired or missing CSRF token: the page says so in the user's language.
        from flask import render_template

        return render_template("errors/400.html"), 400
