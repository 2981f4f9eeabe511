"""The OpenID Connect test provider works end to end: code flow, PKCE, RS256 ID tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from tests.support.oidc import OidcProvider, complete_login, run_oidc_provider

CLIENT_ID = "aggregator-portal"
CLIENT_SECRET = "portal-test-secret"
REDIRECT_URI = "http://127.0.0.1:59999/auth/oidc/callback"
OTHER_CLIENT_ID = "other-portal"
OTHER_REDIRECT_URI = "http://localhost:59998/cb"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    clients: list[dict[str, Any]] = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
        {
            "client_id": OTHER_CLIENT_ID,
            "client_secret": "other-secret",
            "redirect_uris": [OTHER_REDIRECT_URI],
        },
    ]
    with run_oidc_provider(clients) as op:
        yield op


@pytest.fixture(scope="module")
def metadata(provider: OidcProvider) -> dict[str, Any]:
    return provider.metadata()


def _client(**kwargs: Any) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        **kwargs,
    )


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _verify_id_token(provider: OidcProvider, id_token: str, *, nonce: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(provider.jwks())  # type: ignore[arg-type]
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


def test_discovery(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    assert provider.issuer == f"http://127.0.0.1:{provider.port}"
    assert metadata["issuer"] == provider.issuer
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert {"sub", "email", "email_verified", "name"} <= set(metadata["claims_supported"])
    assert "authorization_code" in metadata["grant_types_supported"]
    keys = provider.jwks()["keys"]
    assert keys
    assert all(key["kty"] == "RSA" and "d" not in key for key in keys)


def test_authorization_code_flow_with_pkce(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    oauth = _client()
    verifier = generate_token(64)
    nonce = generate_token(24)
    authorize_url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = complete_login(
        None, authorize_url, sub="user-123", email="ana@example.org", email_verified=True, name="Ana Lima"
    )

    assert callback.startswith(REDIRECT_URI + "?")
    params = _query(callback)
    assert params["state"] == state
    assert params["iss"] == provider.issuer
    assert params["code"]

    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer"
    claims = _verify_id_token(provider, token["id_token"], nonce=nonce)
    assert claims["sub"] == "user-123"
    assert claims["email"] == "ana@example.org"
    assert claims["email_verified"] is True
    assert claims["name"] == "Ana Lima"

    userinfo = oauth.get(metadata["userinfo_endpoint"], timeout=10).json()
    assert userinfo == {
        "sub": "user-123",
        "email": "ana@example.org",
        "email_verified": True,
        "name": "Ana Lima",
    }

    # The same code a second time: the token endpoint refuses it.
    replay = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_id_token_rejected_with_wrong_nonce(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    oauth = _client()
    verifier = generate_token(64)
    authorize_url, _ = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="expected-nonce"
    )
    callback = complete_login(None, authorize_url, sub="user-9", email="x@example.org", email_verified=True, name="X")
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    with pytest.raises(InvalidClaimError):
        _verify_id_token(provider, token["id_token"], nonce="another-nonce")


def test_unverified_email_and_second_identity(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    for sub, email, verified, name in [
        ("user-a", "a@example.org", False, "Alice"),
        ("user-b", "b@example.org", True, "Bruno"),
    ]:
        oauth = _client()
        verifier = generate_token(64)
        nonce = generate_token(24)
        authorize_url, _ = oauth.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        callback = complete_login(None, authorize_url, sub=sub, email=email, email_verified=verified, name=name)
        token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
        claims = _verify_id_token(provider, token["id_token"], nonce=nonce)
        assert (claims["sub"], claims["email"], claims["email_verified"], claims["name"]) == (
            sub,
            email,
            verified,
            name,
        )


def test_pkce_is_required(metadata: dict[str, Any]) -> None:
    authorize_url = (
        metadata["authorization_endpoint"]
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid email",
                "state": "s-1",
                "nonce": "n-1",
            }
        )
    )
    callback = complete_login(None, authorize_url, sub="user-1", email="u@example.org", email_verified=True, name="U")
    assert callback.startswith(REDIRECT_URI + "?")
    params = _query(callback)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["state"] == "s-1"


def test_wrong_code_verifier_is_rejected(metadata: dict[str, Any]) -> None:
    oauth = _client()
    verifier = generate_token(64)
    authorize_url, _ = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(24)
    )
    callback = complete_login(None, authorize_url, sub="user-1", email="u@example.org", email_verified=True, name="U")
    resp = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": _query(callback)["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": generate_token(64),
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"


def test_second_client_and_session_reuse(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    """A reused browser session is signed in silently, as the identity it logged in with."""
    browser = requests.Session()
    oauth = OAuth2Session(
        OTHER_CLIENT_ID,
        "other-secret",
        scope="openid email",
        redirect_uri=OTHER_REDIRECT_URI,
        code_challenge_method="S256",
    )
    for _ in range(2):
        verifier = generate_token(64)
        authorize_url, state = oauth.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(24)
        )
        callback = complete_login(
            browser, authorize_url, sub="user-7", email="s@example.org", email_verified=True, name="S"
        )
        assert callback.startswith(OTHER_REDIRECT_URI + "?")
        assert _query(callback)["state"] == state
        token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
        userinfo = oauth.get(metadata["userinfo_endpoint"], timeout=10).json()
        assert userinfo["sub"] == "user-7"
        assert "name" not in userinfo  # profile scope not asked for
        assert token["id_token"]


def test_reset_forgets_accounts(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    oauth = _client()
    verifier = generate_token(64)
    authorize_url, _ = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(24)
    )
    callback = complete_login(None, authorize_url, sub="user-r", email="r@example.org", email_verified=True, name="R")
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    provider.reset()
    userinfo = oauth.get(metadata["userinfo_endpoint"], timeout=10).json()
    assert userinfo == {"sub": "user-r"}
    assert token["access_token"]
