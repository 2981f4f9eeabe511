"""Social and OpenID Connect sign-in: Google and Facebook presets plus any OIDC provider by settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, current_app

from aggregator.config import oidc_provider_settings
from aggregator.extensions import oauth

bp = Blueprint("oauth", __name__, url_prefix="/auth/oauth")


@dataclass(frozen=True)
class Provider:
    """A configured sign-in provider as the templates see it."""

    name: str
    label: str
    kind: str  # google | facebook | oidc


def configured_providers(app: Flask) -> dict[str, Provider]:
    """Every provider with complete settings, in display order."""
    cfg = app.config
    found: dict[str, Provider] = {}
    if cfg.get("GOOGLE_CLIENT_ID") and cfg.get("GOOGLE_CLIENT_SECRET"):
        found["google"] = Provider("google", "Google", "google")
    if cfg.get("FACEBOOK_CLIENT_ID") and cfg.get("FACEBOOK_CLIENT_SECRET"):
        found["facebook"] = Provider("facebook", "Facebook", "facebook")
    for name, settings in oidc_provider_settings(cfg).items():
        if settings["discovery_url"] and settings["client_id"]:
            found[name] = Provider(name, settings["label"], "oidc")
    return found


def register_providers(app: Flask) -> None:
    """Register each configured provider with authlib (PKCE S256, openid email profile)."""
    providers = configured_providers(app)
    app.extensions["sign_in_providers"] = providers
    cfg = app.config
    oidc_settings = oidc_provider_settings(cfg)
    for name, provider in providers.items():
        if provider.kind == "google":
            oauth.register(
                name,
                client_id=str(cfg["GOOGLE_CLIENT_ID"]),
                client_secret=str(cfg["GOOGLE_CLIENT_SECRET"]),
                server_metadata_url="https://accounts.google.com/.well-known/openid-configuration",
                client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
                overwrite=True,
            )
        elif provider.kind == "facebook":
            oauth.register(
                name,
                client_id=str(cfg["FACEBOOK_CLIENT_ID"]),
                client_secret=str(cfg["FACEBOOK_CLIENT_SECRET"]),
                server_metadata_url="https://www.facebook.com/.well-known/openid-configuration/",
                client_kwargs={"scope": "openid email public_profile", "code_challenge_method": "S256"},
                overwrite=True,
            )
        else:
            settings = oidc_settings[name]
            oauth.register(
                name,
                client_id=settings["client_id"],
                client_secret=settings["client_secret"] or None,
                server_metadata_url=settings["discovery_url"],
                client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
                overwrite=True,
            )


def provider_buttons() -> list[Provider]:
    """Providers to show as buttons (only the configured ones)."""
    return list(current_app.extensions.get("sign_in_providers", {}).values())


@bp.route("/<name>/login")
def login(name: str) -> str:  # TEMPORARY stub
    return name
