"""AustralisConnector's error mapping: credentials, faults, and every kind of page it must not trust.

The real sandbox runs behind a middleware that can rewrite one JSON answer, so each test breaks one
thing in an otherwise genuine response. A fetch that meets any of it fails whole: never a smaller portfolio.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import requests

from connectors.australis import AustralisConnector
from connectors.australis.data import Store
from connectors.australis.sandbox import SANDBOX_API_KEY, make_app
from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse, ReauthRequired
from connectors.http import HttpPolicy, reset_breakers
from connectors.models import Line, Portfolio, TaxId, TaxIdType, as_plain
from connectors.sandbox.people import population
from connectors.sandbox.server import running

TODAY = date(2026, 11, 26)
FAST = HttpPolicy(
    connect_timeout=0.5,
    read_timeout=1.0,
    deadline=4.0,
    max_attempts=2,
    backoff_base=0.01,
    backoff_max=0.02,
    retry_after_cap=0.5,
    breaker_threshold=100,
    breaker_cooldown=0.1,
)
POP = population(2026)
JULIETA, FLEET = POP.argentines[0], POP.argentine_companies[1]
Rewrite = Callable[[Any], Any]


class Tap:
    """WSGI middleware: records every request, and rewrites the JSON answer of paths matching a rule."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.rules: list[tuple[str, Rewrite]] = []
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        rule = next((fn for pattern, fn in self.rules if re.search(pattern, path)), None)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        if not path.startswith("/__sandbox"):
            with self.lock:
                self.calls.append((path, int(captured["status"][:3])))
        if rule is not None and captured["status"].startswith("2"):
            changed = rule(json.loads(body) if body.startswith((b"{", b"[")) else body)
            body = changed if isinstance(changed, bytes) else json.dumps(changed).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


class Box:
    def __init__(self, url: str, store: Store, tap: Tap) -> None:
        self.url, self.store, self.tap = url, store, tap
        self.http = requests.Session()

    def connector(self, policy: HttpPolicy = FAST, **settings: str) -> AustralisConnector:
        return AustralisConnector({"base_url": self.url, "api_key": SANDBOX_API_KEY, **settings}, policy)

    def faults(self, **faults: Any) -> None:
        assert self.http.post(self.url + "/__sandbox/faults", json=faults, timeout=5).status_code == 200

    @contextlib.contextmanager
    def rewrite(self, pattern: str, fn: Rewrite) -> Iterator[None]:
        self.tap.rules.append((pattern, fn))
        try:
            yield
        finally:
            self.tap.rules.clear()

    def calls(self, prefix: str) -> list[tuple[str, int]]:
        with self.tap.lock:
            return [c for c in self.tap.calls if c[0].startswith(prefix)]


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    app = make_app(today=TODAY, page_limit=3)  # the fleet's 17 policies come in 6 pages
    tap = Tap(app)
    with running(tap) as url:
        yield Box(url, app.sandbox.store, tap)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clean(box: Box) -> Iterator[None]:
    reset_breakers()
    box.tap.calls.clear()
    yield
    box.tap.rules.clear()
    box.http.delete(box.url + "/__sandbox/faults", timeout=5)


@pytest.fixture(scope="module")
def refs(box: Box) -> dict[str, str]:
    return {"julieta": box.store.by_key[JULIETA.key], "fleet": box.store.by_key[FLEET.key]}


# --- credentials and settings ---------------------------------------------------------------------


def test_a_bad_api_key_is_authentication_failed(box: Box, refs: dict[str, str]) -> None:
    bad = box.connector(api_key="aus_test_sk_not_this_one")
    for call in (
        bad.check,
        lambda: bad.fetch(refs["julieta"]),
        lambda: bad.verify_client(TaxId(TaxIdType.DNI, JULIETA.dni or ""), "AR-MOT-0000001"),
        lambda: bad.clients_for_email(JULIETA.email),
    ):
        with pytest.raises(AuthenticationFailed) as caught:
            call()
        assert "aus_test_sk" not in str(caught.value) and "401" in str(caught.value)


def test_an_expired_key_is_authentication_failed(box: Box, refs: dict[str, str]) -> None:
    box.faults(expired_token=True)
    with pytest.raises(AuthenticationFailed):
        box.connector().fetch(refs["fleet"])


@pytest.mark.parametrize(
    "settings",
    [
        {"base_url": "http://127.0.0.1:9"},
        {"api_key": "k"},
        {"base_url": "http://127.0.0.1:9", "api_key": "k", "page_limit": "many"},
        {"base_url": "http://127.0.0.1:9", "api_key": "k", "page_limit": "0"},
        {"base_url": "ftp://australis.example", "api_key": "k"},
    ],
)
def test_wrong_settings_are_refused_at_once(settings: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        AustralisConnector(settings, FAST)


def test_an_unknown_client_is_reauth_required(box: Box) -> None:
    with pytest.raises(ReauthRequired):
        box.connector().fetch("cus_gone")


# --- faults ----------------------------------------------------------------------------------------


def test_short_page_is_invalid_response(box: Box, refs: dict[str, str]) -> None:
    box.faults(short_page=True, path=f"/v2/customers/{refs['fleet']}/policies")
    with pytest.raises(InvalidResponse, match="policies page 1 holds 2 items but says 3"):
        box.connector().fetch(refs["fleet"])


@pytest.mark.parametrize("fault", ["malformed", "truncate"])
def test_bad_bodies_are_invalid_response(box: Box, refs: dict[str, str], fault: str) -> None:
    box.faults(**{fault: True})
    with pytest.raises(InvalidResponse):
        box.connector().fetch(refs["julieta"])


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"malformed": True}, InvalidResponse),
        ({"truncate": True}, InvalidResponse),
        ({"short_page": True}, InvalidResponse),
        ({"status": 500}, InsurerUnavailable),
    ],
)
def test_a_failure_on_the_third_page_returns_nothing(
    box: Box, refs: dict[str, str], fault: dict[str, Any], error: type[Exception]
) -> None:
    listing = f"/v2/customers/{refs['fleet']}/policies"
    box.faults(**fault, on_request=3, path=listing)
    connector = box.connector(replace(FAST, max_attempts=1))
    result: list[Portfolio] = []
    with pytest.raises(error):
        result.append(connector.fetch(refs["fleet"]))
    assert result == []
    assert len(box.calls(listing)) == 3  # it got to page 3, and stopped there


def test_a_5xx_on_page_3_is_retried_into_the_whole_portfolio(box: Box, refs: dict[str, str]) -> None:
    connector = box.connector()
    whole = as_plain(connector.fetch(refs["fleet"]))
    listing = f"/v2/customers/{refs['fleet']}/policies"
    box.tap.calls.clear()
    box.faults(status=503, on_request=3, path=listing)
    again = as_plain(connector.fetch(refs["fleet"]))
    assert [s for _, s in box.calls(listing)] == [200, 200, 503, 200, 200, 200, 200]
    whole.pop("fetched_at"), again.pop("fetched_at")
    assert again == whole and len(again["policies"]) == 17


def test_a_persistent_5xx_is_unavailable_after_bounded_retries(box: Box, refs: dict[str, str]) -> None:
    box.faults(status=503)
    with pytest.raises(InsurerUnavailable):
        box.connector().fetch(refs["julieta"])
    assert [s for _, s in box.calls("/")] == [503] * FAST.max_attempts


def test_a_silent_insurer_costs_one_read_timeout(box: Box, refs: dict[str, str]) -> None:
    policy = replace(FAST, read_timeout=0.3, max_attempts=1)
    box.faults(timeout_s=1.0, times=1)
    started = time.monotonic()
    with pytest.raises(InsurerUnavailable):
        box.connector(policy).fetch(refs["julieta"])
    assert time.monotonic() - started < 0.3 + 0.5


# --- answers the connector must not trust ----------------------------------------------------------


def _first_item(fn: Callable[[dict[str, Any]], object]) -> Rewrite:
    def rewrite(page: Any) -> Any:
        fn(page["items"][0])
        return page

    return rewrite


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or, with ..., delete) a dotted path such as 'billing.total_premium.amount_cents'."""
    *parents, last = path.split(".")

    def apply(item: dict[str, Any]) -> None:
        for key in parents:
            item = item[key][0] if isinstance(item[key], list) else item[key]
        if value is ...:
            del item[last]
        else:
            item[last] = value

    return apply


POLICIES, PREMIUMS, CLAIMS = r"/policies$", r"/premiums$", r"/claims$"
UNTRUSTED = {
    "naive timestamp": (POLICIES, _first_item(_set("effective_at", "2026-06-28T12:00:00"))),
    "date where a timestamp goes": (POLICIES, _first_item(_set("expires_at", "2027-06-28"))),
    "unknown policy status": (POLICIES, _first_item(_set("status", "suspended"))),
    "unknown frequency": (POLICIES, _first_item(_set("billing.frequency", "fortnightly"))),
    "negative cents": (POLICIES, _first_item(_set("billing.total_premium.amount_cents", -100))),
    "cents as a float": (POLICIES, _first_item(_set("billing.total_premium.amount_cents", 1000.5))),
    "cents as text": (POLICIES, _first_item(_set("billing.total_premium.amount_cents", "1000"))),
    "cents as a boolean": (POLICIES, _first_item(_set("billing.total_premium.amount_cents", True))),
    "lower-case currency": (POLICIES, _first_item(_set("billing.total_premium.currency", "ars"))),
    "a currency not sold in": (POLICIES, _first_item(_set("billing.total_premium.currency", "EUR"))),
    "missing policy number": (POLICIES, _first_item(_set("policy_number", ...))),
    "empty policy number": (POLICIES, _first_item(_set("policy_number", "  "))),
    "missing billing": (POLICIES, _first_item(_set("billing", ...))),
    "coverages not a list": (POLICIES, _first_item(_set("coverages", {"RC": True}))),
    "covered flag as text": (POLICIES, _first_item(_set("coverages.included", "yes"))),
    "deductible over 100 %": (
        POLICIES,
        _first_item(_set("coverages.deductible", {"type": "percentage", "basis_points": 20_000})),
    ),
    "unknown deductible type": (POLICIES, _first_item(_set("coverages.deductible", {"type": "sliding"}))),
    "duplicate coverage codes": (POLICIES, _first_item(lambda p: p["coverages"].append(dict(p["coverages"][0])))),
    "term ends before it starts": (POLICIES, _first_item(_set("expires_at", "2020-01-01T12:00:00-03:00"))),
    "another customer's policy": (POLICIES, _first_item(_set("customer_id", "cus_someone_else"))),
    "an item that is not an object": (POLICIES, lambda page: {**page, "items": ["pol_1", *page["items"][1:]]}),
    "items missing": (POLICIES, lambda page: {k: v for k, v in page.items() if k != "items"}),
    "next_cursor missing": (POLICIES, lambda page: {k: v for k, v in page.items() if k != "next_cursor"}),
    "count off by one": (POLICIES, lambda page: {**page, "count": page["count"] + 1}),
    "total that is not reached": (POLICIES, lambda page: {**page, "total_count": page["total_count"] + 1}),
    "a page that is not an object": (POLICIES, lambda page: page["items"]),
    "paid premium without paid_at": (PREMIUMS, _first_item(lambda r: [r.update(status="PAID"), r.pop("paid_at", 0)])),
    "unpaid premium with paid_at": (
        PREMIUMS,
        _first_item(lambda r: r.update(status="VOID", paid_at="2026-07-01T10:00:00-03:00")),
    ),
    "unknown premium status": (PREMIUMS, _first_item(_set("status", "PARTIALLY_PAID"))),
    "premium of another policy": (PREMIUMS, _first_item(_set("policy_id", "pol_other"))),
    "premium in another currency": (PREMIUMS, _first_item(_set("amount.currency", "MXN"))),
    "invalid calendar day": (PREMIUMS, _first_item(_set("due_at", "2026-02-30T23:59:59-03:00"))),
    "unknown claim status": (CLAIMS, _first_item(_set("status", "ESCALATED"))),
    "history that ends elsewhere": (
        CLAIMS,
        _first_item(lambda c: c["status_history"].append({"status": "WITHDRAWN", "at": "2099-01-01T00:00:00Z"})),
    ),
    "naive history time": (CLAIMS, _first_item(_set("status_history.at", "2026-07-03T09:11:00"))),
    "claim on an unknown policy": (CLAIMS, _first_item(_set("policy_id", "pol_not_listed"))),
    "duplicate claim ids": (CLAIMS, lambda page: {**page, "items": [page["items"][0], *page["items"][:-1]]}),
    "another customer": (r"^/v2/customers/[^/]+$", lambda c: {**c, "id": "cus_someone_else"}),
}


@pytest.mark.parametrize("case", list(UNTRUSTED), ids=list(UNTRUSTED))
def test_untrusted_answers_fail_the_whole_fetch(box: Box, refs: dict[str, str], case: str) -> None:
    pattern, rewrite = UNTRUSTED[case]
    with box.rewrite(pattern, rewrite), pytest.raises(InvalidResponse) as caught:
        box.connector().fetch(refs["julieta"])
    assert [n for n in (JULIETA.cuil, JULIETA.dni, JULIETA.name) if n and n in str(caught.value)] == []


def test_pagination_lies_are_caught(box: Box, refs: dict[str, str]) -> None:
    connector = box.connector()
    first_cursor: list[str] = []

    def loop(page: Any) -> Any:  # page 2 points back at itself
        if page["next_cursor"] and not first_cursor:
            first_cursor.append(page["next_cursor"])
            return page
        return {**page, "next_cursor": first_cursor[0]} if page["next_cursor"] else page

    cases: dict[str, Rewrite] = {
        "repeats a cursor": loop,
        "is not a full page": lambda page: (
            {**page, "items": page["items"][:-1], "count": page["count"] - 1} if page["next_cursor"] else page
        ),
        "changed total_count": lambda page: {
            **page,
            "total_count": page["total_count"] + (page["next_cursor"] is None),
        },
        "repeats an id": lambda page: {
            **page,
            "items": [*page["items"][:-1], {**page["items"][-1], "id": page["items"][0]["id"]}],
        },
    }
    for message, rewrite in cases.items():
        first_cursor.clear()
        with box.rewrite(r"/policies$", rewrite), pytest.raises(InvalidResponse, match=message):
            connector.fetch(refs["fleet"])


def test_a_document_that_is_not_a_pdf(box: Box, refs: dict[str, str]) -> None:
    connector = box.connector()
    ref = connector.fetch(refs["julieta"]).policies[0].documents[0]
    with box.rewrite(r"^/files/", lambda body: b"<html>Access denied</html>"), pytest.raises(InvalidResponse):
        connector.document(ref)
    with box.rewrite(r"/link$", lambda link: {**link, "url": "file:///etc/passwd"}), pytest.raises(InvalidResponse):
        connector.document(ref)


# --- tolerated: new vocabulary where it harms nothing ----------------------------------------------


def test_new_lines_insured_kinds_and_id_types_are_tolerated(box: Box, refs: dict[str, str]) -> None:
    def novelties(page: Any) -> Any:
        item = page["items"][0]
        item["line"] = "pet"
        item["insured"] = {"kind": "pet", "name": "Firulais"}
        item["policyholder"]["tax_id"] = {"type": "PASSPORT", "value": "AAA000000"}
        item["coverages"][0].pop("deductible", None)
        return page

    with box.rewrite(POLICIES, novelties):
        policy = box.connector().fetch(refs["julieta"]).policies[0]
    assert (policy.line, policy.insured, policy.holder.tax_id) == (Line.OTHER, None, None)
    assert policy.coverages[0].deductible is None


def test_unknown_payment_methods_are_shown_as_written(box: Box, refs: dict[str, str]) -> None:
    with box.rewrite(PREMIUMS, _first_item(_set("payment_method", "crypto_wallet"))):
        policy = box.connector().fetch(refs["julieta"]).policies[0]
    assert policy.receipts[0].method == "crypto_wallet"
