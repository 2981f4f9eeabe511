"""On a phone, "Mis seguros" shows what needs attention above the fold (issue 8 §3).

The user holds the demo user's profiles (``aggregator demo``: GNP and Australis, Mexico and Argentina):
an overdue receipt in its grace period and claims waiting for documents must be visible at 390×844
without scrolling, and the first policy close below them, not behind big panels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from aggregator.demo import DEMO_PAIRS
from connectors.models import TaxId, TaxIdType
from tests.conftest import STRONG_PASSWORD, Mailbox, register_verified
from tests.e2e.conftest import DESKTOP, PHONE, LiveServer, axe_violations, format_violations
from tests.e2e.test_account_journey import assert_fits_phone
from tests.support.data import link_pair, user_id

pytestmark = pytest.mark.e2e

EMAIL = "julieta.mateo@example.com"


def _demo_user(app: Flask, mailbox: Mailbox) -> None:
    register_verified(app.test_client(), mailbox, EMAIL)
    with app.app_context():
        uid = user_id(EMAIL)
        for pair in DEMO_PAIRS:
            link_pair(uid, pair.insurer, TaxId(TaxIdType(pair.id_type), pair.id_number), pair.policy_number)


def _sign_in(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server("/auth/login"))
    page.fill("#email", EMAIL)
    page.fill("#password", STRONG_PASSWORD)
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/(account/profile.*)?$"))


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    return dict(box)


def test_phone_shows_the_overdue_receipt_and_the_claim_waiting_above_the_fold(
    page: Any, live_server: LiveServer, mailbox: Mailbox, app: Flask, sandboxes: Any, screenshot: Callable[..., Path]
) -> None:
    _demo_user(app, mailbox)
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server)
    page.goto(live_server("/"))
    assert page.evaluate("window.scrollY") == 0
    height = PHONE["height"]

    overdue = page.locator("[data-testid=attention-item][data-kind=overdue]").first
    assert "para conservar tu cobertura" in overdue.inner_text() and "Paga antes del" in overdue.inner_text()
    claim = page.locator("[data-testid=attention-item][data-kind=claim]").first
    assert "espera documentos tuyos" in claim.inner_text()
    for item in (overdue, claim):
        box = item.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, f"below the fold: {box}"
    screenshot("60-attention-phone-first-screen")

    # The first policy follows after small things only: the one-line connections and the folded filters.
    attention = _box(page, "[data-testid=attention]")
    first_policy = _box(page, "[data-testid=policy]")
    for between in ("[data-testid=sync-status]", "[data-testid=filters]"):
        assert _box(page, between)["height"] < 130, f"{between} is a big panel on a phone"
    gap = first_policy["y"] - (attention["y"] + attention["height"])
    assert 0 < gap < 0.45 * height, f"{gap}px of panels between what needs attention and the first policy"
    assert not page.locator("#f-insurer").is_visible(), "the selects fold behind 'Filtros' on a phone"
    assert_fits_phone(page)

    # Filters: opened with a tap, applied at once, shown as chips with "Limpiar" after the htmx update.
    page.locator("[data-testid=filters-toggle]").click()
    assert page.locator("[data-testid=filters-toggle]").get_attribute("aria-expanded") == "true"
    assert page.locator("#f-insurer option[value='']").inner_text() == "Todas"
    page.select_option("#f-insurer", "gnp")
    page.wait_for_url(re.compile(r"\?insurer=gnp$"))
    page.locator("[data-testid=filter-chip]").first.wait_for()
    assert page.locator("[data-testid=filter-chip]").first.inner_text().startswith("Aseguradora: GNP Seguros")
    assert page.locator("[data-testid=clear-filters]").is_visible()
    insurers = {
        page.locator("[data-testid=policy]").nth(i).get_attribute("data-insurer")
        for i in range(page.locator("[data-testid=policy]").count())
    }
    assert insurers == {"gnp"}
    screenshot("61-attention-phone-filtered")
    page.locator("[data-testid=clear-filters]").click()
    page.wait_for_url(live_server("/"))

    # The policy page: included coverages first, the rest folded, the assistance call always at hand.
    page.locator("[data-testid=policy][data-policy-number='AR-MOT-1242486']").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    call = page.locator("[data-testid=call-assistance]")
    box = call.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height and call.get_attribute("href") == "tel:08005550143"
    assert "Llamar a asistencia" in call.inner_text()
    page.evaluate("() => window.scrollTo(0, 1500)")
    assert page.evaluate("() => window.scrollY") > 0
    box = call.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, "the call button stays on screen when scrolling"
    assert "Prima anual ARS" in page.locator("[data-testid=premium]").inner_text()
    assert_fits_phone(page)
    table = page.locator("[data-testid=coverages]")
    assert table.evaluate("e => e.scrollWidth <= e.clientWidth"), "the coverage table overflows at 390 px"
    screenshot("62-policy-phone")
    page.goto(live_server("/"))
    page.locator("[data-testid=policy][data-policy-number='1179187742']").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    folded = page.locator("[data-testid=not-included]")
    assert folded.count() == 1 and folded.get_attribute("open") is None
    assert re.fullmatch(r"No incluidas \(\d+\)", folded.locator("summary").inner_text().strip())
    assert page.locator("[data-testid=call-assistance]").get_attribute("href") == "tel:5552279000"


def test_attention_pages_pass_axe_on_phone_and_desktop(
    page: Any, live_server: LiveServer, mailbox: Mailbox, app: Flask, sandboxes: Any, axe_source: str
) -> None:
    _demo_user(app, mailbox)
    _sign_in(page, live_server)
    reports = []
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        for path in ("/", "/claims", "/help"):
            page.goto(live_server(path))
            found = axe_violations(page, axe_source)
            if found:
                reports.append(format_violations(found, f"{path} ({name})"))
        page.goto(live_server("/"))
        for number in ("AR-MOT-1242486", "1179187742"):
            page.goto(live_server("/"))
            page.locator(f"[data-testid=policy][data-policy-number='{number}']").click()
            page.wait_for_url(re.compile(r"/policies/\d+$"))
            found = axe_violations(page, axe_source)
            if found:
                reports.append(format_violations(found, f"policy {number} ({name})"))
        page.goto(live_server("/"))
        page.locator("[data-testid=attention-item][data-kind=claim] a").first.click()
        page.wait_for_url(re.compile(r"/claims/\d+$"))
        found = axe_violations(page, axe_source)
        if found:
            reports.append(format_violations(found, f"claim ({name})"))
    assert not reports, "\n".join(reports)
