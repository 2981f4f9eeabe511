"""Issue 10 in a browser: a broker links a client by proof and opens a policy; the client sees the broker under
"Quién puede ver este perfil" with the view in its access log, revokes it, and the broker's next load is a 404.

Every organization page on the way, and the client's access page, pass axe-core and are photographed at
phone (390 px) and desktop (1280 px) width into test-artifacts/ (``e2e-70-…`` to ``e2e-79-…``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from aggregator.extensions import db
from aggregator.models import ClientProfile, Membership, User
from aggregator.services import orgs
from tests.conftest import STRONG_PASSWORD, Mailbox, register_verified
from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, LiveServer, axe_violations, format_violations
from tests.e2e.test_account_journey import assert_fits_phone
from tests.support.data import link_pair, sandbox_samples, user_id

pytestmark = pytest.mark.e2e

BROKER = "bruno.e2e@example.com"
AGENT = "alejandra.e2e@example.com"
CLIENT = "santiago.e2e@example.com"
ORG_NAME = "Seguros Kessler"
ORG_RFC = "BDE190612KA5"


@dataclass
class Pages:
    """axe-core on each page at both widths, a screenshot at each; every violation reported at the end."""

    source: str
    screenshot: Callable[..., Path]
    reports: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        """Audit and photograph the page as it is now, at 390 px and at 1280 px (left at 1280 px)."""
        page.wait_for_load_state("load")
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            violations = axe_violations(page, self.source)
            self.checked.append(f"{name} ({label})")
            if violations:
                self.reports.append(format_violations(violations, f"{page.url} ({label})"))
            if label == "phone":
                assert_fits_phone(page)
            self.screenshot(f"{name}-{size['width']}", target=page)

    def assert_clean(self) -> None:
        report = "\n".join(self.reports)
        if report:
            print(report)
        assert not self.reports, f"axe-core violations on {len(self.reports)} of {len(self.checked)} pages:\n{report}"


@pytest.fixture
def second_page(browser: Any, browser_problems: BrowserProblems) -> Iterator[Any]:
    """Another person's browser (cookies of its own), watched like ``page``: console errors fail the test."""
    context = browser.new_context(viewport=DESKTOP, locale="es-MX", timezone_id="America/Mexico_City")
    context.set_default_timeout(10_000)

    def _guard(route: Any) -> None:
        host = re.sub(r"^[a-z]+://([^/:]+).*$", r"\1", route.request.url)
        if route.request.url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            browser_problems.blocked_requests.append(route.request.url)
            route.abort()

    context.route("**/*", _guard)
    pg = context.new_page()
    errors = browser_problems.console_errors
    pg.on("console", lambda m: errors.append(f"{m.text} ({pg.url})") if m.type == "error" else None)
    pg.on("pageerror", lambda exc: browser_problems.page_errors.append(f"{exc} ({pg.url})"))
    yield pg
    context.close()


def _sign_in(page: Any, live_server: LiveServer, email: str) -> None:
    page.goto(live_server("/auth/login"))
    page.fill("#email", email)
    page.fill("#password", STRONG_PASSWORD)
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/(account/profile.*)?$"))


def test_broker_links_a_client_who_sees_it_and_revokes_and_the_broker_gets_404(
    page: Any,
    second_page: Any,
    live_server: LiveServer,
    mailbox: Mailbox,
    app: Flask,
    sandboxes: Any,
    axe_source: str,
    screenshot: Callable[..., Path],
    browser_problems: BrowserProblems,
) -> None:
    # Chromium logs the 404 the broker gets at the end, and the 422 of a wrong password.
    browser_problems.allow_console_error(r"Failed to load resource: the server responded with a status of 4(04|22)")
    pages = Pages(axe_source, screenshot)
    with app.app_context():
        tax_id, policy_number = sandbox_samples("gnp").valid
    for email in (BROKER, AGENT, CLIENT):
        register_verified(app.test_client(), mailbox, email)
    with app.app_context():
        broker = db.session.get(User, user_id(BROKER))
        assert broker is not None
        broker.full_name = "Bruno Kessler"
        org = orgs.create_org(broker, ORG_NAME, "broker", "MX", ORG_RFC)
        db.session.add(Membership(organization_id=org.id, user_id=user_id(AGENT), role="agent"))
        slug = org.slug
        db.session.commit()
        # The client holds their own profile (linked with the same pair), so they can see who else does.
        link_pair(user_id(CLIENT), "gnp", tax_id, policy_number)
        profile_id = db.session.scalar(select(ClientProfile.id).where(ClientProfile.id_number == tax_id.number))
        assert profile_id is not None

    # --- 1. the broker signs in and switches to the organization with the navbar's switcher ----------
    _sign_in(page, live_server, BROKER)
    page.goto(live_server("/"))
    switcher = page.locator("[data-testid=workspace-switcher]")
    assert "Personal" in switcher.inner_text()
    switcher.click()
    page.locator(f"[data-testid=workspace-{slug}]").click()
    page.wait_for_url(live_server(f"/o/{slug}/"))
    assert ORG_NAME in page.locator("[data-testid=workspace-switcher]").inner_text()
    page.locator("[data-testid=clients-empty]").wait_for()
    pages.check(page, "70-org-clients-empty")

    # --- 2. links the client by proof (a sandbox sample pair) --------------------------------------------
    page.locator("[data-testid=link-client]").click()
    page.wait_for_url(live_server(f"/o/{slug}/clients/link"))
    pages.check(page, "71-org-link-form")
    page.select_option("#id_type", tax_id.type.value)
    page.fill("#id_number", tax_id.number)
    page.fill("#policy_number", policy_number)
    page.locator("[data-testid=link-submit]").click()
    page.wait_for_url(live_server(f"/o/{slug}/clients/{profile_id}"))
    assert page.locator("[data-testid=client-name]").inner_text() == "Santiago Cruz Ibarra"
    card = page.locator(f"[data-testid=policy][data-policy-number='{policy_number}']")
    card.wait_for()
    pages.check(page, "72-org-client")

    # --- 3. opens the client's policy ----------------------------------------------------------------------
    card.click()
    page.wait_for_url(re.compile(rf"/o/{slug}/policies/\d+$"))
    policy_url = page.url
    assert policy_number in page.locator("main").inner_text()

    # The organization's other pages: the list with its client, members, settings, requests.
    page.goto(live_server(f"/o/{slug}/"))
    assert page.locator("[data-testid=client]").count() == 1
    pages.check(page, "73-org-clients")
    page.goto(live_server(f"/o/{slug}/members"))
    assert AGENT in page.locator("main").inner_text()
    pages.check(page, "74-org-members")
    page.goto(live_server(f"/o/{slug}/settings"))
    pages.check(page, "75-org-settings")
    page.goto(live_server(f"/o/{slug}/requests"))
    page.fill("#email", "otra.clienta@example.com")
    page.fill("#message", "Soy tu agente de seguros; quiero revisar tus pólizas.")
    page.locator("[data-testid=request-submit]").click()
    page.locator("[data-testid=requests-list] [data-status=pending]").first.wait_for()
    pages.check(page, "76-org-requests")

    response = page.goto(policy_url)  # the broker leaves the policy open
    assert response is not None and response.status == 200

    # --- 4. the client sees the broker, and the view of the policy in the log ------------------------------
    client = second_page
    _sign_in(client, live_server, CLIENT)
    client.goto(live_server(f"/profiles/{profile_id}/access"))
    grant = client.locator("[data-testid=org-grant]")
    assert grant.count() == 1
    assert grant.locator("[data-testid=org-name]").inner_text() == ORG_NAME
    log = client.locator("[data-testid=log-rows]").inner_text()
    assert policy_number in log and "Bruno Kessler" in log, log
    pages.check(client, "77-profile-access")

    # --- 5. revokes it, confirming with the password (a wrong one first) ---------------------------------
    grant_id = grant.get_attribute("data-grant")
    client.locator(f"[data-testid=revoke-{grant_id}] summary").click()
    client.fill(f"#revoke-password-{grant_id}", "no-es-mi-clave")
    client.locator(f"[data-testid=revoke-submit-{grant_id}]").click()
    client.locator("[data-testid=revoke-error]").wait_for()
    assert client.locator(f"#revoke-password-{grant_id}").get_attribute("aria-invalid") == "true"
    pages.check(client, "78-profile-access-wrong-password")
    client.fill(f"#revoke-password-{grant_id}", STRONG_PASSWORD)
    client.locator(f"[data-testid=revoke-submit-{grant_id}]").click()
    client.locator("[data-testid=no-orgs]").wait_for()
    assert client.locator("[data-testid=past-grant]").count() == 1
    pages.check(client, "79-profile-access-revoked")

    # --- 6. the broker, still signed in, reloads the policy: gone ------------------------------------------
    response = page.reload()
    assert response is not None and response.status == 404
    response = page.goto(live_server(f"/o/{slug}/clients/{profile_id}"))
    assert response is not None and response.status == 404
    page.goto(live_server(f"/o/{slug}/"))
    assert page.locator("[data-testid=client]").count() == 0
    pages.assert_clean()
