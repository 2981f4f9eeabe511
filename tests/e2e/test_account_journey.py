"""A new person in a real browser: sign up in Spanish, confirm the email, complete the profile,
switch to English, sign out and in again (issue 2, "Done means")."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask_babel import gettext

from tests.conftest import STRONG_PASSWORD, Mailbox, link_in
from tests.e2e.conftest import DESKTOP, PHONE, LiveServer

pytestmark = pytest.mark.e2e

CATALOGUE = Path(__file__).resolve().parents[2] / "aggregator" / "translations" / "es" / "LC_MESSAGES" / "messages.mo"
RULE_LABELS = "#password-rules [data-rule] > span:not(.rule-icon):not(.visually-hidden)"
SHOWN_RULES = ("length", "lower", "upper", "digit", "special", "repeat", "sequence", "personal")

# The state of each password rule as the page shows it: "ok" (ticked), "bad" (crossed),
# "untouched" (the neutral list shown before anything is typed).
_RULES_JS = """
() => Object.fromEntries([...document.querySelectorAll('#password-rules [data-rule]')].map(li => [
  li.dataset.rule,
  (li.classList.contains('rule-ok') ? 'ok' : li.classList.contains('rule-bad') ? 'bad' : 'untouched')
    + (li.dataset.ok === 'true' ? '/true' : '/false')
]))
"""


def tr(app: Flask, lang: str, msgid: str, **kwargs: Any) -> str:
    """``msgid`` as the portal shows it in ``lang`` (the app's own catalogue)."""
    with app.test_request_context("/"):
        g.force_lang = lang
        return str(gettext(msgid, **kwargs))


def expect_rules(page: Any, expected: dict[str, str], timeout_ms: int = 5000) -> None:
    """Wait until the rules list shows exactly ``expected`` ({rule: "ok"|"bad"|"untouched"})."""
    want = {code: f"{state}/{'true' if state == 'ok' else 'false'}" for code, state in expected.items()}
    try:
        page.wait_for_function(
            "(want) => { const got = (" + _RULES_JS + ")(); "
            "return Object.entries(want).every(([k, v]) => got[k] === v); }",
            arg=want,
            timeout=timeout_ms,
        )
    except Exception:
        got = page.evaluate(_RULES_JS)
        assert {k: got.get(k) for k in want} == want, "the password rules did not show the expected ticks"
        raise


def ticked(*ok: str) -> dict[str, str]:
    """The rules in ``ok`` ticked, every other shown rule crossed."""
    assert set(ok) <= set(SHOWN_RULES), ok
    return {code: "ok" if code in ok else "bad" for code in SHOWN_RULES}


def assert_fits_phone(page: Any) -> None:
    """Nothing sticks out sideways on a phone (no horizontal scrolling)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone screen at {page.url}"


def test_sign_up_confirm_profile_language_and_sign_in_again(
    page: Any,
    live_server: LiveServer,
    mailbox: Mailbox,
    app: Flask,
    screenshot: Callable[..., Path],
) -> None:
    email = "lucia@example.com"
    checks: list[str] = []
    page.on("request", lambda r: checks.append(r.url) if r.url.endswith("/auth/password-check") else None)

    # --- 1. register, in Spanish (the browser asks for es-MX) -----------------------------------
    page.goto(live_server("/auth/register"))
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == tr(app, "es", "Create your account")
    expect_rules(page, dict.fromkeys(SHOWN_RULES, "untouched"))
    page.fill("#email", email)

    # The rules tick as the user types, one key at a time, answered by the server through HTMX.
    password = page.locator("#password")
    password.press_sequentially("lucia", delay=40)  # the email's name: crossed as "personal"
    expect_rules(page, ticked("lower", "repeat", "sequence"))
    password.press_sequentially("123", delay=40)  # a digit at last, but an ascending run
    expect_rules(page, ticked("lower", "repeat", "digit"))
    screenshot("01-register-weak-password")
    password.fill("")
    expect_rules(page, dict.fromkeys(SHOWN_RULES, "untouched"))
    password.press_sequentially(STRONG_PASSWORD, delay=20)
    expect_rules(page, dict.fromkeys(SHOWN_RULES, "ok"))
    assert len(checks) >= 3, f"the ticks come from the server while typing; saw {len(checks)} checks"

    page.fill("#password_confirm", STRONG_PASSWORD)
    page.check("#accept_terms")
    screenshot("02-register-ready")
    page.locator("#register-form button[type=submit]").click()

    # --- 2. "check your inbox", then the real email ---------------------------------------------
    page.locator("h1", has_text=tr(app, "es", "Check your inbox")).wait_for()
    screenshot("03-check-your-inbox")
    message = mailbox.wait_for(email)
    link = link_in(message, "/auth/verify/")
    assert link.startswith(live_server.url + "/auth/verify/"), link

    # --- 3. open the link: the page confirms itself (static/js/app.js) and signs the user in -----
    page.goto(link)
    page.wait_for_url(re.compile(r"/account/profile\?welcome=1$"))
    banner = page.locator("[data-testid=complete-profile]")
    assert banner.is_visible()
    assert tr(app, "es", "Complete your profile") in banner.inner_text()
    assert page.locator(".verify-banner").count() == 0, "the email is confirmed: no 'confirm your email' banner"
    screenshot("04-complete-profile")

    # --- 4. complete the profile -> dashboard -----------------------------------------------------
    page.fill("#full_name", "Lucía Fernández")
    page.fill("#phone", "55 2345 6789")
    page.locator("form[action='/account/profile'] button[type=submit]").click()
    page.wait_for_url(live_server("/"))
    assert page.locator("h1").inner_text() == tr(app, "es", "My insurance")
    assert page.locator("[data-testid=greeting]").inner_text() == tr(app, "es", "Hello, %(name)s", name="Lucía")
    assert page.locator("[data-testid=dashboard-empty]").is_visible()
    assert "Lucía Fernández" in page.locator("nav").inner_text()
    screenshot("05-dashboard")

    page.set_viewport_size(PHONE)
    assert_fits_phone(page)
    screenshot("06-dashboard-phone")
    page.set_viewport_size(DESKTOP)

    # --- 5. switch to English -------------------------------------------------------------------
    logout = page.locator("[data-testid=logout]")
    spanish_logout = logout.inner_text().strip()
    page.click("[data-testid=lang-en]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.url == live_server("/"), "the language switch stays on the same page"
    assert logout.inner_text().strip() == "Sign out"
    assert page.locator("[data-testid=greeting]").inner_text() == "Hello, Lucía"
    if CATALOGUE.exists():
        assert spanish_logout == tr(app, "es", "Sign out") != "Sign out"
    screenshot("07-dashboard-english")

    # --- 6. sign out, and in again with the password (the account remembers English) -------------
    logout.click()
    page.wait_for_url(re.compile(r"/auth/login$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("[data-testid=logout]").count() == 0
    page.goto(live_server("/"))
    page.wait_for_url(re.compile(r"/auth/login"))  # signed out for real: home asks to sign in
    page.fill("#email", email)
    page.fill("#password", STRONG_PASSWORD)
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.wait_for_url(live_server("/"))
    assert page.locator("[data-testid=greeting]").inner_text() == "Hello, Lucía"
    assert page.locator("html").get_attribute("lang") == "en"
    screenshot("08-signed-in-again")


def test_language_switch_for_visitors(
    page: Any, live_server: LiveServer, app: Flask, screenshot: Callable[..., Path]
) -> None:
    page.goto(live_server("/auth/login"))
    html = page.locator("html")
    submit = page.locator("form[action='/auth/login'] button[type=submit]")
    assert html.get_attribute("lang") == "es"
    spanish = submit.inner_text().strip()
    assert spanish == tr(app, "es", "Sign in")
    if CATALOGUE.exists():
        assert spanish != "Sign in", "the Spanish catalogue exists but the page is in English"
        assert page.locator("h1").inner_text() == tr(app, "es", "Sign in")
    screenshot("10-login-es")

    page.click("[data-testid=lang-en]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.url == live_server("/auth/login")
    assert submit.inner_text().strip() == "Sign in"
    assert page.locator("[data-testid=lang-en]").get_attribute("aria-pressed") == "true"
    screenshot("11-login-en")

    # The choice is remembered on the next page, and can be undone.
    page.goto(live_server("/auth/register"))
    assert html.get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Create your account"
    english_rules = page.locator(RULE_LABELS).all_inner_texts()
    assert len(english_rules) == len(SHOWN_RULES), english_rules
    page.click("[data-testid=lang-es]")
    page.wait_for_function("document.documentElement.lang === 'es'")
    assert page.locator("h1").inner_text() == tr(app, "es", "Create your account")
    if CATALOGUE.exists():
        assert page.locator("h1").inner_text() != "Create your account"
        # Every rule the user reads while typing a password is in Spanish (none left in English).
        spanish_rules = page.locator(RULE_LABELS).all_inner_texts()
        untranslated = [label for label in spanish_rules if label in english_rules]
        assert not untranslated, f"password rules still in English on the Spanish page: {untranslated}"


def test_register_page_on_a_phone(page: Any, live_server: LiveServer, screenshot: Callable[..., Path]) -> None:
    page.set_viewport_size(PHONE)
    page.goto(live_server("/auth/register"))
    assert_fits_phone(page)
    # The navigation folds into the menu button; the form is usable without it.
    assert page.locator(".navbar-toggler").is_visible()
    assert page.locator("#email").is_visible()
    assert page.locator("#register-form button[type=submit]").is_visible()
    screenshot("20-register-phone")
    page.click(".navbar-toggler")
    page.locator("#nav-main.collapse.show").wait_for()  # Bootstrap's opening animation has ended
    for item in ("[data-testid=lang-en]", "nav a[href='/auth/login']"):
        assert page.locator(item).is_visible(), f"{item} is not shown in the opened menu"
    assert_fits_phone(page)
    screenshot("21-register-phone-menu")


def test_an_expired_form_tells_the_user_instead_of_doing_nothing(
    page: Any, live_server: LiveServer, app: Flask, browser_problems: Any, screenshot: Callable[..., Path]
) -> None:
    """The session cookie vanishes while the person types: the live check is refused (CSRF) and
    the page says so in Spanish, instead of silently freezing the rule list."""
    page.goto(live_server("/auth/register"))
    page.context.clear_cookies()
    page.locator("#password").press_sequentially("abc", delay=30)
    alert = page.locator("#live-errors .alert-danger")
    alert.wait_for()
    expected = tr(app, "es", "We could not complete that action. Reload the page and try again: nothing was lost.")
    assert alert.inner_text().strip() == expected
    assert page.locator("#password").input_value() == "abc"  # nothing typed is lost
    screenshot("30-expired-form")
    # The refused request is the point of this test, not a problem of the page.
    browser_problems.console_errors[:] = [e for e in browser_problems.console_errors if "400" not in e]
