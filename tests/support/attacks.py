"""The six attacks of issue 8, scripted over real HTTP against a running portal.

Against the demo (``aggregator demo`` on http://127.0.0.1:5000, its sandboxes on 8101 and 8102,
emails written to ``instance/outbox``)::

    python -m tests.support.attacks --portal http://127.0.0.1:5000 --outbox instance/outbox

Each attack prints DEFENDED or BROKEN with what it saw; the exit status is 1 if any got through.
Run it against a fresh demo: the linking attacks leave their targets and the script's address locked
(that is the point), and a second run within the hour finds them locked.
The provider attack (5) needs an OpenID Connect provider the portal is configured with and that
this script can sign in at; the demo has none, so there it is reported as skipped.
``tests/integration/test_attacks.py`` runs every attack, the provider one included, against a
live portal on loopback with the test OpenID Connect provider.

Only the portal's own pages, its emails and the sandboxes' fault controls (``/__sandbox/faults``,
which count the calls an insurer received) are used: what an outsider with a mailbox can do.
"""

from __future__ import annotations

import argparse
import email
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

PASSWORD = "Mango#Verde2026!"
ATTACKER_PASSWORD = "Ladron#Oculto2026?"
VICTIM_PASSWORD = "Cuenta#Propia2026!"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
LINK_RE = re.compile(r"https?://\S+")
POLICY_LINK_RE = re.compile(r'href="(/policies/\d+)"[^>]*data-insurer="([a-z_]+)"')
TIMEOUT = 20.0


# --- mail ---------------------------------------------------------------------------------------


class Mail(Protocol):
    """Where the portal's emails can be read: a mark, then the plain-text bodies sent to an address since."""

    def mark(self) -> Any: ...

    def texts_since(self, mark: Any, to: str) -> list[str]: ...


class OutboxMail:
    """The demo's ``instance/outbox`` folder of ``.eml`` files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def mark(self) -> set[str]:
        return {p.name for p in self.folder.glob("*.eml")} if self.folder.is_dir() else set()

    def texts_since(self, mark: set[str], to: str) -> list[str]:
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            if path.name in mark:
                continue
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if to.lower() in str(msg["To"]).lower():
                found.append(_plain(msg))
        return found


def _plain(msg: Any) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def wait_link(mail: Mail, mark: Any, to: str, fragment: str, timeout: float = TIMEOUT) -> str:
    """The newest link containing ``fragment`` in an email to ``to`` sent after ``mark``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in reversed(mail.texts_since(mark, to)):
            for url in LINK_RE.findall(text):
                if fragment in url:
                    return url
        time.sleep(0.05)
    raise AttackError(f"no email to {to} with a link to {fragment}")


def links_in_mail(mail: Mail, mark: Any, to: str, wait: float) -> list[str]:
    """Every link in emails to ``to`` since ``mark``, after waiting ``wait`` seconds for stragglers."""
    time.sleep(wait)
    return [url for text in mail.texts_since(mark, to) for url in LINK_RE.findall(text)]


# --- the target ---------------------------------------------------------------------------------


class AttackError(Exception):
    """The script could not carry an attack out (the portal or a sandbox did not answer as expected)."""


@dataclass
class OidcLogin:
    """A provider the portal knows (``name``) and how to sign in at it as anyone: authorize URL → callback URL."""

    name: str
    sign_in: Callable[[str, str, str, bool], str]  # (authorize_url, subject, email, email_verified) -> callback


@dataclass
class Target:
    """A running portal and what the attacker can reach around it."""

    portal: str  # http://127.0.0.1:5000
    mail: Mail
    sandboxes: dict[str, str]  # slug -> base URL with fault controls
    link_user_limit: int = 5  # the documented defaults (README)
    link_target_limit: int = 5
    login_limit: int = 5
    oidc: OidcLogin | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(3))

    def email(self, who: str) -> str:
        return f"{who}.{self.tag}@ataque.example"


@dataclass
class Outcome:
    """What one attack found."""

    number: int
    name: str
    defended: bool
    detail: str
    skipped: bool = False


class Browser:
    """One visitor: a cookie jar, the portal's CSRF tokens, redirects not followed unless asked."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.target.portal + path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.get(self.url(path), timeout=TIMEOUT, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.post(self.url(path), data=data, timeout=TIMEOUT, **kwargs)

    def token(self, path: str) -> str:
        return csrf_of(self.get(path).text)

    def form(self, path: str, data: dict[str, str], page: str | None = None, **kwargs: Any) -> requests.Response:
        """GET ``page`` (default ``path``) for its CSRF token, then POST ``data`` to ``path``."""
        return self.post(path, {"csrf_token": self.token(page or path), **data}, **kwargs)

    def clone(self) -> Browser:
        """Another connection with the same cookies (for simultaneous requests)."""
        other = Browser(self.target)
        other.http.cookies.update(self.http.cookies)
        return other

    def signed_in(self) -> bool:
        return self.get("/").status_code == 200


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    if match is None:
        raise AttackError("no CSRF token in the page")
    return match.group(1) or match.group(2)


def register(target: Target, email_address: str, password: str = PASSWORD) -> Browser:
    """A browser that registered ``email_address`` and opened the verification link itself (signed in)."""
    browser = Browser(target)
    mark = target.mail.mark()
    browser.form(
        "/auth/register",
        {"email": email_address, "password": password, "password_confirm": password, "accept_terms": "y"},
    )
    open_link(browser, wait_link(target.mail, mark, email_address, "/auth/verify/"))
    if not browser.signed_in():
        raise AttackError(f"could not register and verify {email_address}")
    return browser


def open_link(browser: Browser, url: str) -> requests.Response:
    """Open an emailed confirmation link as a browser does: GET its page, then POST its form."""
    path = urlsplit(url).path
    page = browser.get(path)
    return browser.post(path, {"csrf_token": csrf_of(page.text)})


def link_profile(browser: Browser, id_type: str, id_number: str, policy_number: str) -> requests.Response:
    return browser.form("/profiles/link", {"id_type": id_type, "id_number": id_number, "policy_number": policy_number})


def simultaneously(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call at the same moment (a barrier), each in its own thread."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class InsurerCalls:
    """Counts the calls one sandbox receives on ``path`` (its fault controls count what they match)."""

    def __init__(self, base: str, path: str, latency_ms: int) -> None:
        self.control = base.rstrip("/") + "/__sandbox/faults"
        self.path, self.latency_ms = path, latency_ms

    def __enter__(self) -> InsurerCalls:
        answer = requests.post(self.control, json={"latency_ms": self.latency_ms, "path": self.path}, timeout=5)
        if answer.status_code != 200:
            raise AttackError(f"the sandbox's fault controls refused: {answer.text}")
        return self

    def count(self) -> int:
        return int(requests.get(self.control, timeout=5).json().get("seen", 0))

    def __exit__(self, *exc: object) -> None:
        requests.delete(self.control, timeout=5)


def _pairs(person: int = 0) -> dict[str, Any]:
    """The demo's manual pairs of one person (0: Ana, 1: Andrea), by insurer.

    Each attack aims at its own person: a locked target would make the next attack pass vacuously.
    """
    from aggregator.demo import MANUAL_PAIRS

    ids = list(dict.fromkeys(pair.id_number for pair in MANUAL_PAIRS))
    return {pair.insurer: pair for pair in MANUAL_PAIRS if pair.id_number == ids[person]}


def _bystander_rfc() -> str:
    """A well-formed RFC of a sandbox person that no other attack uses."""
    from connectors.sandbox.people import population

    return str(population().mexicans[7].rfc)


def _wrong_numbers(count: int) -> list[str]:
    return [f"99{secrets.randbelow(10**8):08d}" for _ in range(count)]


# --- the attacks --------------------------------------------------------------------------------


def host_header_poisoning(target: Target) -> Outcome:
    """1. "Forgot password" with ``Host: evil.example``: the emailed reset link must not point there."""
    victim = target.email("host")
    register(target, victim)
    mark = target.mail.mark()
    statuses = []
    for headers in (
        {"Host": "evil.example"},
        {"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example"},
    ):
        attacker = Browser(target)  # the form and its cookie fetched the same way, as a forged page would
        page = attacker.get("/auth/forgot", headers=headers)
        token = CSRF_RE.search(page.text)
        data = {"csrf_token": (token.group(1) or token.group(2)) if token else "", "email": victim}
        statuses.append((page.status_code, attacker.post("/auth/forgot", data, headers=headers).status_code))
    links = links_in_mail(target.mail, mark, victim, wait=1.5)
    poisoned = [u for u in links if "evil.example" in u]
    detail = f"(GET, POST) statuses {statuses}; reset links emailed: {links or 'none'}"
    return Outcome(1, "Host header poisoning in emailed links", not poisoned, detail)


def linking_concurrency(target: Target) -> Outcome:
    """2. 25 simultaneous links from one new user (24 wrong policy numbers, then the right one)."""
    pair = _pairs(1)["gnp"]
    browser = register(target, target.email("linker"))
    token = browser.token("/profiles/link")

    def attempt(number: str) -> Callable[[], requests.Response]:
        clone = browser.clone()
        data = {"csrf_token": token, "id_type": pair.id_type, "id_number": pair.id_number, "policy_number": number}
        return lambda: clone.post("/profiles/link", data)

    with InsurerCalls(target.sandboxes["gnp"], "/api/v1/clientes/verificacion", latency_ms=400) as calls:
        answers = simultaneously([attempt(n) for n in _wrong_numbers(24)])
        right = attempt(pair.policy_number)()
        asked = calls.count()
    linked = right.status_code in (302, 303) or pair.name in browser.get("/profiles").text
    limit = target.link_user_limit
    detail = (
        f"the insurer was asked {asked} times for 25 attempts (limit {limit}); statuses "
        f"{sorted({a.status_code for a in answers})}; the right number afterwards: {right.status_code}, "
        f"{'LINKED' if linked else 'not linked'}"
    )
    return Outcome(2, "Linking limits bypassed by concurrency", asked <= limit and not linked, detail)


def linking_target_concurrency(target: Target) -> Outcome:
    """2b. The per-target key: eight users at once, each one wrong number for the same person."""
    rfc = _bystander_rfc()
    browsers = [register(target, target.email(f"target{i}")) for i in range(8)]

    def attempt(browser: Browser) -> Callable[[], requests.Response]:
        data = {"csrf_token": browser.token("/profiles/link"), "id_type": "RFC", "id_number": rfc}
        data["policy_number"] = _wrong_numbers(1)[0]
        return lambda: browser.post("/profiles/link", data)

    calls_list = [attempt(b) for b in browsers]
    with InsurerCalls(target.sandboxes["gnp"], "/api/v1/clientes/verificacion", latency_ms=400) as calls:
        simultaneously(calls_list)
        asked = calls.count()
    limit = target.link_target_limit
    detail = f"the insurer was asked {asked} times about one person by 8 users at once (limit {limit})"
    return Outcome(2, "Per-target linking limit under concurrency", asked <= limit, detail)


def login_concurrency(target: Target) -> Outcome:
    """3. 25 simultaneous sign-ins with wrong passwords, then the right one."""
    victim = target.email("login")
    register(target, victim, VICTIM_PASSWORD)
    attacker = Browser(target)
    token = attacker.token("/auth/login")

    def attempt(password: str) -> Callable[[], requests.Response]:
        clone = attacker.clone()
        return lambda: clone.post("/auth/login", {"csrf_token": token, "email": victim, "password": password})

    answers = simultaneously([attempt(f"Intento#{i:02d}Malo!x") for i in range(25)])
    checked = sum(1 for a in answers if a.status_code in (302, 401))
    right = attempt(VICTIM_PASSWORD)()
    limit = target.login_limit
    detail = (
        f"{checked} of 25 simultaneous guesses were checked (limit {limit}); statuses "
        f"{sorted({a.status_code for a in answers})}; the right password afterwards: {right.status_code}"
    )
    return Outcome(3, "Password lockout bypassed by concurrency", checked <= limit and right.status_code != 302, detail)


def reauth_concurrency(target: Target) -> Outcome:
    """3b. A borrowed session guessing the password through "Mi cuenta" (change email), 25 at once."""
    owner = register(target, target.email("reauth"), VICTIM_PASSWORD)
    token = owner.token("/account/security")

    def attempt(password: str) -> Callable[[], requests.Response]:
        clone = owner.clone()
        data = {"csrf_token": token, "new_email": target.email("nuevo"), "current_password": password}
        return lambda: clone.post("/account/security/email", data)

    answers = simultaneously([attempt(f"Intento#{i:02d}Malo!x") for i in range(25)])
    checked = sum(1 for a in answers if a.status_code in (303, 401, 422))
    right = attempt(VICTIM_PASSWORD)()
    limit = target.login_limit
    detail = (
        f"{checked} of 25 simultaneous re-authentications were checked (limit {limit}); statuses "
        f"{sorted({a.status_code for a in answers})}; the right password afterwards: {right.status_code}"
    )
    return Outcome(
        3, "Re-authentication lockout under concurrency", checked <= limit and right.status_code != 303, detail
    )


def pre_registration_hijack(target: Target) -> Outcome:
    """4. The attacker registers the victim's email with the attacker's password; the victim confirms it."""
    victim = target.email("victima")
    attacker = Browser(target)
    mark = target.mail.mark()
    attacker.form(
        "/auth/register",
        {"email": victim, "password": ATTACKER_PASSWORD, "password_confirm": ATTACKER_PASSWORD, "accept_terms": "y"},
    )
    link = wait_link(target.mail, mark, victim, "/auth/verify/")
    early = Browser(target)  # the attacker signs in before the victim confirms, and keeps that session
    early.form("/auth/login", {"email": victim, "password": ATTACKER_PASSWORD})
    victim_browser = Browser(target)
    answer = open_link(victim_browser, link)
    asked_password = "/password" in answer.text and answer.status_code == 200
    if asked_password:
        path = urlsplit(link).path + "/password"
        victim_browser.post(
            path,
            {"csrf_token": csrf_of(answer.text), "password": VICTIM_PASSWORD, "password_confirm": VICTIM_PASSWORD},
        )
    later = Browser(target)
    login = later.form("/auth/login", {"email": victim, "password": ATTACKER_PASSWORD})
    attacker_in = login.status_code == 302 and later.signed_in()
    early_alive = early.signed_in()
    detail = (
        f"the victim {'was asked to choose the password' if asked_password else 'was not asked for a password'}; "
        f"the attacker's password afterwards: {'ACCEPTED' if attacker_in else 'refused'} ({login.status_code}); "
        f"the attacker's earlier session: {'STILL OPEN' if early_alive else 'closed'}"
    )
    return Outcome(4, "Pre-registration hijack", not attacker_in and not early_alive, detail)


def provider_email_trust(target: Target) -> Outcome:
    """5. An untrusted provider asserts the victim's email as verified: no verified account, no insurer data."""
    if target.oidc is None:
        return Outcome(5, "Provider-asserted emails grant insurer data", True, "needs an OpenID Connect provider", True)
    from connectors.registry import discover

    spec = discover()["gnp"].sandbox()
    known = spec.samples.email_with_clients if spec is not None else None
    victim = known or target.email("proveedor")  # an email the insurer knows: its profiles would be auto-linked
    attacker = Browser(target)
    start = attacker.get(f"/auth/oauth/{target.oidc.name}/login")
    callback = target.oidc.sign_in(start.headers["Location"], f"intruso-{target.tag}", victim, True)
    attacker.get(callback)
    signup = f"/auth/oauth/{target.oidc.name}/signup"
    done = attacker.form(signup, {"accept_terms": "y"})
    signed_in = attacker.signed_in()
    home = attacker.get("/").text if signed_in else ""
    policies = len(POLICY_LINK_RE.findall(home))
    # The mailbox's owner resets the password: methods the mailbox never proved must go.
    owner = Browser(target)
    mark = target.mail.mark()
    owner.form("/auth/forgot", {"email": victim})
    reset = urlsplit(wait_link(target.mail, mark, victim, "/auth/reset/")).path
    owner.form(reset, {"password": VICTIM_PASSWORD, "password_confirm": VICTIM_PASSWORD})
    again = Browser(target)
    start = again.get(f"/auth/oauth/{target.oidc.name}/login")
    again.get(target.oidc.sign_in(start.headers["Location"], f"intruso-{target.tag}", victim, True))
    back_in = again.signed_in()
    detail = (
        f"sign-up answered {done.status_code}; the attacker {'WAS SIGNED IN' if signed_in else 'was not signed in'} "
        f"and saw {policies} policies; after the owner's reset the provider "
        f"{'STILL SIGNS IN' if back_in else 'is gone'}"
    )
    return Outcome(5, "Provider-asserted emails grant insurer data", not signed_in and not back_in, detail)


def cross_insurer_reveal(target: Target) -> Outcome:
    """6. X proved Ana at Australis; Y proves Ana at GNP: Y must not see her Australis policies."""
    pairs = _pairs()
    x = register(target, target.email("x"))
    link_profile(x, pairs["australis"].id_type, pairs["australis"].id_number, pairs["australis"].policy_number)
    y = register(target, target.email("y"))
    link_profile(y, pairs["gnp"].id_type, pairs["gnp"].id_number, pairs["gnp"].policy_number)
    x_policies = _wait_for_policies(x, "australis")
    y_home = _wait_for_policies(y, "gnp")
    seen_by_y = [path for path, slug in POLICY_LINK_RE.findall(y.get("/?status=all").text) if slug == "australis"]
    opened = [path for path in x_policies if y.get(path).status_code == 200]
    detail = (
        f"Y's list shows {len(seen_by_y)} Australis policies; Y opens {len(opened)} of X's {len(x_policies)} "
        f"Australis policy pages; Y sees {len(y_home)} GNP policies"
    )
    return Outcome(
        6, "A proof at one insurer reveals other insurers", not seen_by_y and not opened and bool(x_policies), detail
    )


def _wait_for_policies(browser: Browser, slug: str, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [path for path, s in POLICY_LINK_RE.findall(browser.get("/?status=all").text) if s == slug]
        if found:
            return found
        time.sleep(0.3)
    raise AttackError(f"no {slug} policies appeared within {timeout:.0f}s (is its sandbox running?)")


ATTACKS: tuple[Callable[[Target], Outcome], ...] = (
    host_header_poisoning,
    linking_concurrency,
    linking_target_concurrency,
    login_concurrency,
    reauth_concurrency,
    pre_registration_hijack,
    provider_email_trust,
    cross_insurer_reveal,
)


def run_all(target: Target, attacks: Iterable[Callable[[Target], Outcome]] = ATTACKS) -> list[Outcome]:
    """Every attack in turn; one that cannot be carried out is reported as broken with its reason."""
    outcomes = []
    for attack in attacks:
        try:
            outcomes.append(attack(target))
        except (AttackError, requests.RequestException) as exc:
            outcomes.append(Outcome(0, attack.__name__, False, f"could not run: {exc}"))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portal", default="http://127.0.0.1:5000")
    parser.add_argument("--outbox", default="instance/outbox", type=Path)
    parser.add_argument("--gnp", default="http://127.0.0.1:8101")
    parser.add_argument("--australis", default="http://127.0.0.1:8102")
    args = parser.parse_args(argv)
    target = Target(args.portal.rstrip("/"), OutboxMail(args.outbox), {"gnp": args.gnp, "australis": args.australis})
    outcomes = run_all(target)
    for o in outcomes:
        verdict = "skipped" if o.skipped else ("DEFENDED" if o.defended else "BROKEN")
        print(f"{o.number}. {o.name:48} {verdict:9} {o.detail}")
    return 0 if all(o.defended for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
