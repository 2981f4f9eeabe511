"""A real OpenID Connect provider for tests, and helpers to log in through it.

The provider is the npm package ``oidc-provider`` run by Node (see
``tests/support/oidc_provider/server.mjs``). It serves plain http on 127.0.0.1,
issues RS256-signed ID tokens, requires PKCE (S256) and offers a login form on
which the *test* chooses the identity (``sub``, ``email``, ``email_verified``,
``name``); consent is granted automatically.

Typical use from a Flask test::

    from tests.support.oidc import complete_login, run_oidc_provider

    def test_login(app, client):
        clients = [{
            "client_id": "portal",
            "client_secret": "portal-secret",
            "redirect_uris": ["http://localhost/auth/oidc/callback"],
        }]
        with run_oidc_provider(clients) as op:
            app.config["OIDC_DISCOVERY_URL"] = op.discovery_url
            resp = client.get("/auth/oidc/login")  # the portal redirects to the provider
            callback = complete_login(
                None, resp.headers["Location"],
                sub="u-1", email="ana@example.org", email_verified=True, name="Ana",
            )
            resp = client.get(callback)  # back into the portal, with code and state
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
SERVER_SCRIPT = PROVIDER_DIR / "server.mjs"
MIN_NODE_MAJOR = 20
READY_PREFIX = "READY "
_INTERACTION_PATH = re.compile(r"^/interaction/([^/]+)$")


@dataclass(frozen=True)
class OidcProvider:
    """A running test provider.

    ``issuer`` is ``http://127.0.0.1:<port>`` (no trailing slash) and is what the
    ``iss`` claim of its ID tokens holds.
    """

    issuer: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def port(self) -> int:
        port = urlsplit(self.issuer).port
        assert port is not None
        return port

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document."""
        resp = requests.get(self.discovery_url, timeout=10)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def jwks(self) -> dict[str, Any]:
        """The provider's public signing keys (JWK Set)."""
        resp = requests.get(self.metadata()["jwks_uri"], timeout=10)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def reset(self) -> None:
        """Forget every account submitted on the login form so far."""
        requests.post(f"{self.issuer}/__test/reset", timeout=10).raise_for_status()

    def log(self) -> str:
        """Everything the node process printed (stdout and stderr)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True)
    match = re.match(r"v(\d+)\.", out.stdout.strip())
    return int(match.group(1)) if match else 0


def _pinned_version() -> str:
    package = json.loads((PROVIDER_DIR / "package.json").read_text(encoding="utf-8"))
    version: str = package["dependencies"]["oidc-provider"]
    return version


def _installed_version() -> str | None:
    installed = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.is_file():
        return None
    version: str = json.loads(installed.read_text(encoding="utf-8"))["version"]
    return version


def ensure_node_modules() -> str:
    """Make sure the provider's npm dependencies are installed; return the node path.

    Runs ``npm ci --no-audit --no-fund`` in ``tests/support/oidc_provider`` when
    ``node_modules`` is missing or holds another ``oidc-provider`` version than the
    pinned one. Skips the calling test when node (>= 20) or npm is not available;
    raises ``RuntimeError`` with npm's output when the install itself fails.
    """
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the OpenID Connect test provider needs Node.js >= 20")
    major = _node_major(node)
    if major < MIN_NODE_MAJOR:
        pytest.skip(f"Node.js {major} found; the OpenID Connect test provider needs Node.js >= 20")
    if _installed_version() == _pinned_version():
        return node
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: it is needed once to install {PROVIDER_DIR / 'node_modules'}")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or _installed_version() != _pinned_version():
        raise RuntimeError(
            f"`npm ci` failed in {PROVIDER_DIR} (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return node


@contextmanager
def run_oidc_provider(
    clients: list[dict[str, Any]],
    *,
    port: int = 0,
    startup_timeout: float = 30.0,
) -> Iterator[OidcProvider]:
    """Start the test OpenID provider and stop it when the block ends.

    ``clients`` are OAuth client registrations, each at least ``client_id`` and
    ``redirect_uris`` plus ``client_secret`` (then the token endpoint expects
    ``client_secret_basic``; pass ``token_endpoint_auth_method`` to change that).
    Other client metadata is handed to oidc-provider as it is.

    With ``port=0`` (the default) the node process binds a free port chosen by
    the OS itself, so there is no race between picking and binding a port; the
    issuer it reports on its ``READY`` line is used.
    """
    node = ensure_node_modules()
    env = dict(os.environ)
    env["OIDC_CONFIG"] = json.dumps({"clients": clients})
    env["OIDC_PORT"] = str(port)
    env.pop("NODE_OPTIONS", None)
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as tmp:
        log_path = Path(tmp) / "provider.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [node, str(SERVER_SCRIPT)],
                cwd=PROVIDER_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            issuer = _wait_until_ready(process, log_path, startup_timeout)
            yield OidcProvider(issuer=issuer, process=process, log_path=log_path)
        finally:
            _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
        if process.poll() is not None:
            raise RuntimeError(f"the OpenID test provider exited with {process.returncode}:\n{text}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the OpenID test provider was not READY within {timeout:.0f} s:\n{text}")
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class _FormParser(HTMLParser):
    """Collects each form's action and its input names."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, list[str]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self._current = values.get("action") or ""
            self.forms[self._current] = []
        elif tag == "input" and self._current is not None and values.get("name"):
            self.forms[self._current].append(values["name"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def complete_login(
    session: requests.Session | None,
    authorize_url: str,
    *,
    sub: str,
    email: str,
    email_verified: bool,
    name: str,
    max_hops: int = 10,
    timeout: float = 10.0,
) -> str:
    """Log in at the test provider as the given identity; return the client callback URL.

    ``authorize_url`` is the provider's authorization URL with the request's
    parameters, as the portal redirected the browser to it (``Location`` header).
    ``session`` plays the browser's part towards the provider and keeps its
    cookies; pass ``None`` to use a fresh ``requests.Session`` (the usual choice:
    a reused session that is already logged in at the provider is signed in
    again silently as its earlier identity, and logging it in as another ``sub``
    runs into the provider's logout confirmation, which this helper does not do).

    Redirects are followed only while they stay on the provider; the login form
    is submitted with ``sub``, ``email``, ``email_verified`` and ``name`` (these
    become the account's claims and consent to the requested scopes is given).
    The first redirect that leaves the provider is returned, not followed: the
    client's ``redirect_uri`` with ``code``, ``state`` and ``iss`` (or ``error``
    and ``error_description`` when the provider refused the request, e.g. no
    PKCE ``code_challenge``). Raises ``RuntimeError`` on any other outcome.
    """
    http = session if session is not None else requests.Session()
    provider_origin = _origin(authorize_url)
    url = authorize_url
    submitted = False
    try:
        for _ in range(max_hops):
            resp = http.get(url, allow_redirects=False, timeout=timeout)
            if resp.is_redirect:
                url = urljoin(url, resp.headers["Location"])
                if _origin(url) != provider_origin:
                    return url
                continue
            match = _INTERACTION_PATH.match(urlsplit(url).path)
            if resp.status_code != 200 or match is None:
                raise RuntimeError(
                    f"unexpected answer from the OpenID test provider for GET {url}: "
                    f"{resp.status_code}\n{resp.text[:2000]}"
                )
            if submitted:
                raise RuntimeError(f"the OpenID test provider asked for a login again at {url}")
            parser = _FormParser()
            parser.feed(resp.text)
            action = f"/interaction/{match.group(1)}/login"
            if action not in parser.forms:
                raise RuntimeError(f"no login form at {url}:\n{resp.text[:2000]}")
            form = {
                "sub": sub,
                "email": email,
                "email_verified": "true" if email_verified else "false",
                "name": name,
            }
            resp = http.post(urljoin(url, action), data=form, allow_redirects=False, timeout=timeout)
            if not resp.is_redirect:
                raise RuntimeError(f"login at the OpenID test provider failed: {resp.status_code}\n{resp.text[:2000]}")
            submitted = True
            url = urljoin(url, resp.headers["Location"])
            if _origin(url) != provider_origin:
                return url
        raise RuntimeError(f"more than {max_hops} redirects inside the OpenID test provider (last: {url})")
    finally:
        if session is None:
            http.close()
