"""Every page passes axe-core (WCAG 2.2 A/AA and best practices) at desktop and phone size, in Spanish.

Signed out, signed in with profiles linked at both insurers (synced from the sandboxes), and with
an email not verified yet; forms are also checked with their errors shown. Then the keyboard: focus
is clearly visible on the dark navbar, and a form that comes back with errors (a page or an htmx
swap) puts the focus on the first field to fix.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from aggregator.demo import MANUAL_PAIRS
from aggregator.extensions import db
from aggregator.models import ClientProfile
from connectors.models import TaxId, TaxIdType
from tests.conftest import STRONG_PASSWORD, Mailbox, link_in, register, register_verified
from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, LiveServer, axe_violations, format_violations
from tests.support.data import link_pair, user_id

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@dataclass
class Audit:
    """Runs axe on page after page and reports every violation of every page at the end."""

    page: Any
    live_server: LiveServer
    source: str
    viewport: str
    reports: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def visit(self, path: str, status: int = 200) -> None:
        """Open ``path`` and check it."""
        response = self.page.goto(self.live_server(path))
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        self.check(path)

    def check(self, where: str) -> None:
        """Check the page as it is now (after a swap, with errors shown...)."""
        self.page.wait_for_load_state("load")
        violations = axe_violations(self.page, self.source)
        self.checked.append(where)
        if violations:
            self.reports.append(format_violations(violations, f"{where} ({self.viewport})"))

    def assert_clean(self) -> None:
        """Fail with every violation found on every page checked."""
        report = "\n".join(self.reports)
        if report:
            print(report)
        assert not self.reports, f"axe-core violations on {len(self.reports)} of {len(self.checked)} pages:\n{report}"


@pytest.fixture(params=sorted(VIEWPORTS))
def audit(
    request: pytest.FixtureRequest,
    page: Any,
    live_server: LiveServer,
    axe_source: str,
    browser_problems: BrowserProblems,
) -> Audit:
    """An ``Audit`` of a browser page at one viewport (desktop 1280×900 or phone 390×844)."""
    page.set_viewport_size(VIEWPORTS[request.param])
    # Chromium logs every 4xx answer; these pages are asked for on purpose (a 404, forms with errors).
    browser_problems.allow_console_error(
        r"Failed to load resource: the server responded with a status of 4(01|03|04|22)"
    )
    return Audit(page, live_server, axe_source, request.param)


def sign_in(page: Any, live_server: LiveServer, email: str) -> None:
    """Sign in through the form."""
    page.goto(live_server("/auth/login"))
    page.fill("#email", email)
    page.fill("#password", STRONG_PASSWORD)
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/(account/profile.*)?$"))


def test_axe_runs_under_the_portals_csp_and_finds_a_planted_violation(
    page: Any, live_server: LiveServer, axe_source: str
) -> None:
    """The checker itself works: the CSP does not stop it and it reports a button without a name."""
    response = page.goto(live_server("/auth/login"))
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    assert axe_violations(page, axe_source) == []
    page.evaluate("() => document.querySelector('main').append(document.createElement('button'))")
    found = axe_violations(page, axe_source)
    assert [v["id"] for v in found] == ["button-name"], format_violations(found, "planted")


def test_signed_out_pages(audit: Audit, mailbox: Mailbox, app: Flask) -> None:
    page = audit.page
    register_verified(app.test_client(), mailbox, "olvido@example.com")
    for path in ("/auth/login", "/auth/register", "/auth/forgot", "/help", "/legal/terms", "/legal/privacy"):
        audit.visit(path)
    audit.visit("/no-such-page", status=404)

    # Forms with their errors shown.
    page.goto(audit.live_server("/auth/login"))
    page.fill("#email", "nadie@example.com")
    page.fill("#password", "incorrecta")
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.locator("[data-testid=login-error]").wait_for()
    audit.check("/auth/login (wrong password)")
    page.goto(audit.live_server("/auth/register"))
    page.locator("#register-form button[type=submit]").click()
    page.locator(".invalid-feedback").first.wait_for()
    audit.check("/auth/register (errors)")

    # A valid reset link, from the email.
    page.goto(audit.live_server("/auth/forgot"))
    page.fill("#email", "olvido@example.com")
    page.locator("form[action='/auth/forgot'] button[type=submit]").click()
    page.wait_for_load_state("load")
    audit.check("/auth/forgot (sent)")
    reset = link_in(mailbox.wait_for("olvido@example.com", ""), "/auth/reset/")
    audit.visit(re.sub(r"^https?://[^/]+", "", reset))
    audit.assert_clean()


def test_signed_in_pages_with_profiles_at_both_insurers(
    audit: Audit, mailbox: Mailbox, app: Flask, sandboxes: Any
) -> None:
    page = audit.page
    email = "accesible@example.com"
    register_verified(app.test_client(), mailbox, email)
    with app.app_context():
        uid = user_id(email)
        for pair in MANUAL_PAIRS:  # two people, each at both insurers
            link_pair(uid, pair.insurer, TaxId(TaxIdType(pair.id_type), pair.id_number), pair.policy_number)
        profile_id = db.session.scalars(select(ClientProfile.id)).first()

    sign_in(page, audit.live_server, email)
    audit.check("/account/profile (welcome)")
    for path in (
        "/",
        "/?q=auto",
        "/?insurer=gnp&status=all",
        "/?q=nada-coincide-con-esto",
        "/profiles",
        f"/profiles/{profile_id}/unlink",
        "/profiles/link",
        "/claims",
        "/account/",
        "/account/profile",
        "/account/security",
        "/account/connections",
        "/account/sessions",
        "/account/notifications",
        "/account/privacy",
    ):
        audit.visit(path)
    # A policy of each insurer and a claim, as linked from the lists.
    page.goto(audit.live_server("/"))
    policies = [
        page.locator(f"[data-testid=policy][data-insurer={slug}]").first.get_attribute("href")
        for slug in ("gnp", "australis")
    ]
    page.goto(audit.live_server("/claims"))
    claims = [page.locator("[data-testid=claim]").first.get_attribute("href")]
    for path in policies + claims:
        assert path, "the lists link to policies and claims"
        audit.visit(path)

    # The link form with its errors, swapped in by htmx.
    page.goto(audit.live_server("/profiles/link"))
    page.locator("[data-testid=link-submit]").click()
    page.locator("#id_number[aria-invalid=true]").wait_for()
    page.locator("#link-progress").wait_for(state="hidden")  # "Asking the insurers…" fades out after the swap
    audit.check("/profiles/link (errors)")
    page.fill("#id_number", MANUAL_PAIRS[0].id_number)
    page.fill("#policy_number", "0000000000")
    page.locator("[data-testid=link-submit]").click()
    page.locator("[data-testid=link-failed]").wait_for()
    page.locator("#link-progress").wait_for(state="hidden")
    audit.check("/profiles/link (not verified)")
    audit.assert_clean()


def test_large_portfolio_pages(audit: Audit, mailbox: Mailbox, app: Flask) -> None:
    """Issue 9: "ver más" (a page, and appended by htmx), the claims' pages, the attention strip counting what it
    does not list, and a connections panel counted by status with accounts in trouble."""
    from datetime import date, timedelta

    from sqlalchemy import update

    from aggregator.models import Policy, Receipt
    from tests.integration.test_paging import give_accounts
    from tests.integration.test_query_counts import give_policies

    page = audit.page
    email = "muchas.polizas@example.com"
    register_verified(app.test_client(), mailbox, email)
    today = date.today()
    with app.app_context():
        give_policies(email, 200)  # 33 or 34 a line: the first six, a page of 24, and more
        late = list(db.session.scalars(select(Policy.id).order_by(Policy.id).limit(6)))
        db.session.execute(
            update(Receipt)
            .where(Receipt.policy_id.in_(late), Receipt.status == "pending")
            .values(status="overdue", due_date=today - timedelta(days=5), grace_until=today + timedelta(days=25))
        )
        db.session.execute(update(Policy).where(Policy.id.in_(late)).values(next_due_date=today - timedelta(days=5)))
        db.session.commit()
    give_accounts(app, email, 14, stale=12)

    sign_in(page, audit.live_server, email)
    audit.visit("/")
    assert page.locator("[data-testid=attention-more]").count() >= 2
    assert page.locator("[data-testid=more-problems]").count() == 1
    page.locator("[data-testid=more-policies][data-line=auto] a").click()
    page.locator("[data-testid=line-group][data-line=auto] [data-testid=policy]").nth(6).wait_for()
    audit.check("/ (ver más, appended)")
    later = page.locator("[data-testid=more-policies][data-line=auto] a").get_attribute("href")
    assert later and "after=" in later
    audit.visit(later)  # the same page without JavaScript: one line from a position, with its way back
    audit.visit("/?status=overdue")
    audit.visit("/claims")
    page.locator("[data-testid=more-claims] a").click()
    page.locator("[data-testid=claim]").nth(20).wait_for()
    audit.check("/claims (ver más, appended)")
    audit.assert_clean()


def test_unverified_users_pages(audit: Audit, mailbox: Mailbox, app: Flask) -> None:
    register(app.test_client(), "sin.verificar@example.com")
    sign_in(audit.page, audit.live_server, "sin.verificar@example.com")
    for path in ("/", "/account/"):
        audit.visit(path)
    audit.visit("/profiles/link", status=403)
    audit.visit("/claims", status=403)
    audit.assert_clean()


# --- keyboard: visible focus, focus on the first field to fix ------------------------------------------

_FOCUSED_JS = """
() => {
  const el = document.activeElement;
  const css = getComputedStyle(el);
  const root = getComputedStyle(document.documentElement);
  return {
    in_navbar: !!el.closest('.app-navbar'), focus_visible: el.matches(':focus-visible'),
    what: (el.id ? '#' + el.id + ' ' : '') + el.tagName.toLowerCase() + '.' + [...el.classList].join('.') + ' '
          + (el.textContent || '').trim().slice(0, 30),
    outline_style: css.outlineStyle, outline_width: parseFloat(css.outlineWidth), outline_color: css.outlineColor,
    backgrounds: [root.getPropertyValue('--brand').trim(), root.getPropertyValue('--brand-ink').trim()],
  };
}
"""


def _luminance(color: str) -> float:
    """Relative luminance (WCAG) of '#rrggbb' or 'rgb(r, g, b)'."""
    if color.startswith("#"):
        channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    else:
        channels = [int(float(c)) for c in re.findall(r"[\d.]+", color)[:3]]
    linear = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def tab_through_navbar(page: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Press Tab from the top of the page; what got the focus in the navbar, with its outline."""
    page.locator("body").focus()
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED_JS)
        if not focused["in_navbar"] and seen:
            break
        if focused["in_navbar"]:
            seen.append(focused)
    return seen


def assert_clearly_visible(focused: dict[str, Any]) -> None:
    """A solid ring at least 2px wide with 3:1 contrast against the bar's colours (WCAG 2.4.7, 1.4.11)."""
    what = focused["what"]
    assert focused["focus_visible"], f"{what}: keyboard focus should match :focus-visible"
    assert focused["outline_style"] not in ("none", "hidden"), f"{what}: no outline on keyboard focus"
    assert focused["outline_width"] >= 2, f"{what}: outline {focused['outline_width']}px"
    for background in focused["backgrounds"]:
        ratio = contrast(focused["outline_color"], background)
        assert ratio >= 3, f"{what}: outline {focused['outline_color']} on {background} is {ratio:.1f}:1"


def test_keyboard_focus_is_clearly_visible_in_the_navbar(
    page: Any, live_server: LiveServer, mailbox: Mailbox, app: Flask, artifacts_dir: Path, axe: Callable[..., Any]
) -> None:
    page.goto(live_server("/help"))
    signed_out = tab_through_navbar(page)
    assert len(signed_out) >= 4, [f["what"] for f in signed_out]  # brand, help, ES/EN, sign in, create account
    for focused in signed_out:
        assert_clearly_visible(focused)

    register_verified(app.test_client(), mailbox, "teclado@example.com")
    sign_in(page, live_server, "teclado@example.com")
    page.goto(live_server("/help"))
    signed_in = tab_through_navbar(page)
    assert any("Cerrar sesión" in f["what"] for f in signed_in), [f["what"] for f in signed_in]
    for focused in signed_in:
        assert_clearly_visible(focused)
    page.locator(".app-navbar .nav-link").nth(1).focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    page.locator(".app-navbar").screenshot(path=str(artifacts_dir / "e2e-a11y-navbar-focus-desktop.png"))

    page.set_viewport_size(PHONE)
    page.goto(live_server("/help"))
    on_phone = tab_through_navbar(page, limit=4)
    toggler = [f for f in on_phone if ".navbar-toggler" in f["what"]]
    assert on_phone and toggler, [f["what"] for f in on_phone]
    assert_clearly_visible(toggler[-1])
    page.keyboard.press("Shift+Tab")  # back from the page to the menu button
    assert ".navbar-toggler" in page.evaluate(_FOCUSED_JS)["what"]
    page.keyboard.press("Enter")  # opens the menu
    page.locator("#nav-main.show").wait_for()
    page.keyboard.press("Tab")
    opened = page.evaluate(_FOCUSED_JS)
    assert opened["in_navbar"] and "Mis seguros" in opened["what"], opened["what"]
    assert_clearly_visible(opened)
    axe(page, "/help (phone, menu open)")
    page.locator(".app-navbar").screenshot(path=str(artifacts_dir / "e2e-a11y-navbar-focus-phone.png"))


def focused_field(page: Any, expected_id: str) -> list[str | None]:
    """[id, aria-describedby] of the focused element, once it is ``expected_id`` (or after 3 s, whatever it is)."""
    # Imported here: without playwright the module still collects, and the browser fixture skips.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "(id) => document.activeElement && document.activeElement.id === id", arg=expected_id, timeout=3000
        )
    return list(
        page.evaluate("() => [document.activeElement.id, document.activeElement.getAttribute('aria-describedby')]")
    )


def test_failed_submit_puts_the_focus_on_the_first_field_to_fix(
    page: Any, live_server: LiveServer, browser_problems: BrowserProblems
) -> None:
    browser_problems.allow_console_error(r"status of 422")  # the form's answer when it has errors
    page.goto(live_server("/auth/register"))
    page.fill("#email", "foco@example.com")
    page.fill("#password", STRONG_PASSWORD)
    page.fill("#password_confirm", STRONG_PASSWORD + "x")
    page.locator("#register-form button[type=submit]").click()
    page.locator("#password_confirm[aria-invalid=true]").wait_for()
    # The email field has autofocus; the first field with an error wins over it.
    assert focused_field(page, "password_confirm") == ["password_confirm", "password_confirm-error"]
    assert page.locator("#password_confirm-error").inner_text().strip(), "the error text it names"


def test_htmx_swap_with_errors_puts_the_focus_on_the_first_field_to_fix(
    page: Any, live_server: LiveServer, mailbox: Mailbox, app: Flask, browser_problems: BrowserProblems
) -> None:
    browser_problems.allow_console_error(r"status of 422")  # the form's answer when it has errors
    register_verified(app.test_client(), mailbox, "swap@example.com")
    sign_in(page, live_server, "swap@example.com")
    page.goto(live_server("/profiles/link"))
    page.evaluate("() => { window.samePage = true; }")
    page.locator("#id_number").fill(MANUAL_PAIRS[0].id_number)
    page.locator("#id_number").press("Enter")
    page.locator("#policy_number[aria-invalid=true]").wait_for()
    assert page.evaluate("() => window.samePage") is True, "htmx swapped the form in; the page did not reload"
    assert focused_field(page, "policy_number") == ["policy_number", "policy-number-help policy_number-error"]
    assert page.locator("#id_number").get_attribute("aria-invalid") is None
