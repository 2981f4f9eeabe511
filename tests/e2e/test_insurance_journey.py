"""A new user links a person's profile at both insurers, watches the sync, opens a policy and downloads its PDF.

Syncs run on the thread backend here (the embedded default), with latency added by the sandboxes,
so the progress panel is really seen polling before the policies arrive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from aggregator import jobs
from aggregator.demo import MANUAL_PAIRS
from tests.conftest import STRONG_PASSWORD, Mailbox, register_verified
from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.test_account_journey import assert_fits_phone

EMAIL = "tomas.e2e@example.com"


@pytest.fixture
def thread_jobs(app: Flask) -> Iterator[None]:
    """Run this test's syncs in the background, as the portal does outside tests."""
    previous = app.extensions.get("jobs_backend")
    app.extensions["jobs_backend"] = jobs.ThreadBackend(2)
    yield
    jobs.shutdown(app, wait=True)
    if previous is not None:
        app.extensions["jobs_backend"] = previous


def _sign_in(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server("/auth/login"))
    page.fill("#email", EMAIL)
    page.fill("#password", STRONG_PASSWORD)
    page.locator("form[action='/auth/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/(account/profile.*)?$"))


def _link(page: Any, live_server: LiveServer, id_type: str, id_number: str, policy_number: str) -> None:
    page.goto(live_server("/profiles/link"))
    page.select_option("#id_type", id_type)
    page.fill("#id_number", id_number)
    page.fill("#policy_number", policy_number)
    page.locator("[data-testid=link-submit]").click()
    page.wait_for_url(live_server("/"))


def test_link_watch_progress_see_both_insurers_open_a_policy_and_download_its_pdf(
    page: Any,
    live_server: LiveServer,
    mailbox: Mailbox,
    app: Flask,
    sandboxes: Any,
    thread_jobs: None,
    screenshot: Callable[..., Path],
) -> None:
    register_verified(app.test_client(), mailbox, EMAIL)
    _sign_in(page, live_server)
    page.goto(live_server("/"))
    assert page.locator("[data-testid=dashboard-empty]").is_visible(), "a new user starts with the empty state"
    screenshot("40-mis-seguros-empty")

    gnp_pair, australis_pair = MANUAL_PAIRS[0], MANUAL_PAIRS[1]
    assert (gnp_pair.insurer, australis_pair.insurer) == ("gnp", "australis")
    assert gnp_pair.id_number == australis_pair.id_number, "one person, a client of both insurers"

    # --- 1. link at GNP with a README pair; the insurer answers slowly, so the sync is seen running --
    sandboxes["gnp"].faults(latency_ms=400)
    page.goto(live_server("/profiles/link"))
    screenshot("41-link-form")
    _link(page, live_server, gnp_pair.id_type, gnp_pair.id_number, gnp_pair.policy_number)
    progress = page.locator("[data-testid=sync-progress]")
    progress.wait_for()
    assert page.locator("[data-testid=sync-status]").get_attribute("hx-trigger") == "every 1s"
    screenshot("42-sync-in-progress")
    # The panel polls until done, then the list reloads by itself: no click, no page load.
    page.locator("[data-testid=policy][data-insurer=gnp]").first.wait_for(timeout=20_000)
    progress.wait_for(state="detached")
    assert page.locator("[data-testid=sync-status]").get_attribute("hx-trigger") is None, "polling stops when done"
    assert page.locator("[data-testid=health][data-insurer=gnp]").get_attribute("data-status") == "ok"

    # --- 2. the same person at Australis: policies of both insurers side by side ---------------------
    sandboxes["gnp"].clear()
    _link(page, live_server, australis_pair.id_type, australis_pair.id_number, australis_pair.policy_number)
    page.locator("[data-testid=policy][data-insurer=australis]").first.wait_for(timeout=20_000)
    page.locator("[data-testid=sync-progress]").wait_for(state="detached")
    insurers_shown = {
        page.locator("[data-testid=policy]").nth(i).get_attribute("data-insurer")
        for i in range(page.locator("[data-testid=policy]").count())
    }
    assert insurers_shown == {"gnp", "australis"}
    assert gnp_pair.policy_number in page.locator("[data-testid=results]").inner_text()
    assert australis_pair.policy_number in page.locator("[data-testid=results]").inner_text()
    screenshot("43-mis-seguros-two-insurers")
    page.set_viewport_size(PHONE)
    assert_fits_phone(page)
    screenshot("44-mis-seguros-phone")
    page.set_viewport_size(DESKTOP)

    # --- 3. open a policy and download its PDF through the portal -------------------------------------
    page.locator(f"[data-testid=policy][data-policy-number='{gnp_pair.policy_number}']").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    assert gnp_pair.policy_number in page.locator("h1, main").first.inner_text()
    assert page.locator("[data-testid=document]").count() >= 1
    screenshot("45-policy-detail")
    with page.expect_download() as info:
        page.locator("[data-testid=document][data-kind=policy]").first.click()
    download = info.value
    path = download.path()
    assert path is not None
    content = Path(path).read_bytes()
    assert content.startswith(b"%PDF"), content[:20]
    assert download.suggested_filename.lower().endswith(".pdf")
    page.set_viewport_size(PHONE)
    assert_fits_phone(page)
    screenshot("46-policy-detail-phone")
