"""The Australis sandbox over real HTTP on loopback: auth, cursor pages, faults, signed links, the data set."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.australis.data import build
from connectors.australis.sandbox import SANDBOX_API_KEY, AustralisSandbox, make_app
from connectors.sandbox.faults import FaultInjector
from connectors.sandbox.people import population
from connectors.sandbox.server import running

TODAY = date(2026, 11, 26)
KEY = {"X-Api-Key": SANDBOX_API_KEY}


class Box:
    """A running sandbox: its URL, its in-process state, a session."""

    def __init__(self, url: str, app: FaultInjector) -> None:
        self.url = url
        self.sandbox: AustralisSandbox = app.sandbox  # type: ignore[attr-defined]
        self.store = self.sandbox.store
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", KEY)
        return self.http.get(self.url + path, timeout=5, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", KEY)
        return self.http.post(self.url + path, json=body, timeout=5, **kwargs)

    def cid(self, key: str) -> str:
        return self.store.by_key[key]


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    app = make_app(today=TODAY)
    with running(app) as url:
        yield Box(url, app)


@pytest.fixture(autouse=True)
def _clean(box: Box) -> Iterator[None]:
    yield
    box.http.delete(box.url + "/__sandbox/faults", timeout=5)
    box.http.delete(box.url + "/__sandbox/links", timeout=5)


POP = population(2026)
JULIETA, TOMAS, FLEET = POP.argentines[0], POP.argentines[3], POP.argentine_companies[1]


# --- authentication ------------------------------------------------------------------------------


def test_every_v2_call_needs_the_api_key(box: Box) -> None:
    assert box.get("/v2/health").json()["status"] == "ok"
    missing = box.get("/v2/health", headers={})
    wrong = box.get("/v2/health", headers={"X-Api-Key": "aus_test_sk_wrong"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
    assert "X-Api-Key" in wrong.headers["WWW-Authenticate"]


def test_expired_token_fault_answers_401_api_key_expired(box: Box) -> None:
    box.http.post(box.url + "/__sandbox/faults", json={"expired_token": True}, timeout=5)
    response = box.get(f"/v2/customers/{box.cid(JULIETA.key)}")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "api_key_expired")


def test_request_id_and_version_are_echoed(box: Box) -> None:
    response = box.get("/v2/health", headers={**KEY, "X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"
    assert response.headers["Australis-Version"] == "2026-03-01"


def test_index_says_the_insurer_is_fictional(box: Box) -> None:
    index = box.http.get(box.url + "/", timeout=5).json()
    assert index["fictional"] is True and "ficticia" in index["name"]


# --- the book of business ----------------------------------------------------------------------


def test_clients_come_from_the_shared_population(box: Box) -> None:
    store = box.store
    assert len(store.customers) == 50 >= 30
    for p in POP.argentines[0:20]:
        assert store.by_tax_id[("DNI", p.dni)] == store.by_tax_id[("CUIL", p.cuil)] == box.cid(p.key)
    for c in POP.argentine_companies[0:6]:
        assert store.by_tax_id[("CUIT", c.cuit)] == box.cid(c.key)
    mexican = [(p.key, p.rfc) for p in POP.mexicans[25:45]] + [(c.key, c.rfc) for c in POP.mexican_companies[6:10]]
    for key, rfc in mexican:
        assert store.by_tax_id[("RFC", rfc or "")] == box.cid(key)
        assert store.customers[box.cid(key)]["country"] == "MX"
    assert ("RFC", POP.mexicans[24].rfc) not in store.by_tax_id  # GNP-only people stay GNP-only


def test_mexicans_25_to_39_are_clients_here_with_the_same_rfc(box: Box) -> None:
    """The same people as GNP's clients 25–39: the portal's unified view shows one person at two insurers."""
    for person in POP.mexicans[25:40]:
        cid = box.cid(person.key)
        number = next(
            box.store.policies[p]["policy_number"]
            for p in box.store.customer_policies[cid]
            if box.store.policies[p]["status"] == "active"
        )
        found = box.post("/v2/customers:match", {"tax_id_type": "RFC", "tax_id": person.rfc, "policy_number": number})
        assert found.status_code == 200
        customer = found.json()
        assert customer["tax_ids"] == [{"type": "RFC", "value": person.rfc}]
        assert customer["display_name"] == person.name


def test_lines_statuses_and_currencies_cover_the_spectrum(box: Box) -> None:
    policies = list(box.store.policies.values())
    assert len(policies) >= 100
    assert set(Counter(p["line"] for p in policies)) >= {
        "motor",
        "home",
        "life",
        "health",
        "gadgets",
        "personal_accident",
        "travel",
    }
    assert set(Counter(p["status"] for p in policies)) == {"active", "grace_period", "expired", "cancelled", "lapsed"}
    for p in policies:
        country = box.store.customers[p["customer_id"]]["country"]
        assert p["billing"]["total_premium"]["currency"] == {"AR": "ARS", "MX": "MXN"}[country]
        assert p["effective_at"].endswith({"AR": ("-03:00",), "MX": ("-06:00", "-05:00")}[country])
    premiums = [r for rs in box.store.premiums.values() for r in rs]
    assert set(Counter(r["status"] for r in premiums)) == {"PAID", "DUE", "PAST_DUE", "VOID"}
    claims = [c for cs in box.store.claims.values() for c in cs]
    assert set(Counter(c["status"] for c in claims)) == {
        "FNOL_RECEIVED",
        "ADJUSTER_ASSIGNED",
        "AWAITING_DOCUMENTS",
        "IN_ASSESSMENT",
        "SETTLED",
        "DECLINED",
        "WITHDRAWN",
        "REOPENED",
    }
    for claim in claims:
        assert claim["status_history"][-1]["status"] == claim["status"]
        assert all(e["at"].endswith("Z") for e in claim["status_history"])


def test_premiums_add_up_to_the_policy_premium(box: Box) -> None:
    for pid, premiums in box.store.premiums.items():
        total = box.store.policies[pid]["billing"]["total_premium"]["amount_cents"]
        assert sum(r["amount"]["amount_cents"] for r in premiums) == total
        assert all(("paid_at" in r) == (r["status"] == "PAID") for r in premiums)


def test_odd_values_are_present(box: Box) -> None:
    store = box.store
    zero = [p for p in store.policies.values() if p["billing"]["total_premium"]["amount_cents"] == 0]
    assert zero and all(p["group_policy"] and not store.premiums[p["id"]] for p in zero)
    assert max(len(p["coverages"]) for p in store.policies.values()) >= 30
    assert any("insured" not in p for p in store.policies.values())
    assert any(
        p.get("insured", {}).get("kind") == "vehicle" and "vin" not in p["insured"] for p in store.policies.values()
    )
    assert any("email" not in c for c in store.customers.values())
    assert any("phone" not in c for c in store.customers.values())
    names = [person["full_name"] for p in store.policies.values() for person in p.get("insured", {}).get("persons", [])]
    assert "Zoë Nguyễn-Villaseñor" in names
    assert "Óscar Villaseñor Xicoténcatl" in [c["display_name"] for c in store.customers.values()]


def test_a_client_spans_five_pages_and_more_at_a_small_limit(box: Box) -> None:
    cid = box.cid(FLEET.key)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = box.get(f"/v2/customers/{cid}/policies", params=params).json()
        pages += 1
        assert page["count"] == len(page["items"]) and page["limit"] == 3 and page["total_count"] == 17
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
    assert pages == 6 and len(seen) == len(set(seen)) == 17


def test_limits_are_capped_and_cursors_checked(box: Box) -> None:
    cid = box.cid(FLEET.key)
    assert box.get(f"/v2/customers/{cid}/policies", params={"limit": 10_000}).json()["limit"] == 100
    assert box.get(f"/v2/customers/{cid}/policies", params={"limit": 0}).status_code == 400
    tampered = box.get(f"/v2/customers/{cid}/policies", params={"cursor": "cG9saWNpZXM6eHw5OXxhYmM"})
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (400, "invalid_cursor")
    other = box.cid(JULIETA.key)
    cursor = box.get(f"/v2/customers/{cid}/policies", params={"limit": 3}).json()["next_cursor"]
    assert box.get(f"/v2/customers/{other}/policies", params={"cursor": cursor}).status_code == 400


def test_short_page_fault_drops_an_item_but_keeps_the_counts(box: Box) -> None:
    cid = box.cid(FLEET.key)
    full = box.get(f"/v2/customers/{cid}/policies", params={"limit": 3}).json()
    box.http.post(box.url + "/__sandbox/faults", json={"short_page": True}, timeout=5)
    short = box.get(f"/v2/customers/{cid}/policies", params={"limit": 3}).json()
    assert len(short["items"]) == 2
    assert {k: v for k, v in short.items() if k != "items"} == {k: v for k, v in full.items() if k != "items"}


def test_match_refusals_are_byte_identical(box: Box) -> None:
    cid = box.cid(TOMAS.key)
    numbers = {
        box.store.policies[p]["status"]: box.store.policies[p]["policy_number"]
        for p in box.store.customer_policies[cid]
    }
    bodies = {
        "expired": {"tax_id_type": "DNI", "tax_id": TOMAS.dni, "policy_number": numbers["expired"]},
        "cancelled": {"tax_id_type": "DNI", "tax_id": TOMAS.dni, "policy_number": numbers["cancelled"]},
        "wrong": {"tax_id_type": "DNI", "tax_id": TOMAS.dni, "policy_number": "AR-APE-0000000"},
        "unknown": {"tax_id_type": "CUIL", "tax_id": POP.argentines[25].cuil, "policy_number": numbers["active"]},
        "curp": {"tax_id_type": "CURP", "tax_id": POP.mexicans[30].curp, "policy_number": numbers["active"]},
    }
    answers = {why: box.post("/v2/customers:match", body) for why, body in bodies.items()}
    assert {r.status_code for r in answers.values()} == {404}
    assert len({r.content for r in answers.values()}) == 1
    cuil = TOMAS.cuil or ""
    ok = box.post(
        "/v2/customers:match",
        {
            "tax_id_type": "CUIL",
            "tax_id": f"{cuil[:2]}-{cuil[2:10]}-{cuil[10]}",
            "policy_number": numbers["active"].lower(),
        },
    )
    assert ok.status_code == 200 and ok.json()["id"] == cid


def test_email_search(box: Box) -> None:
    found = box.post("/v2/customers:search", {"email": JULIETA.email.upper()}).json()
    assert found["count"] == 2
    assert {c["type"] for c in found["items"]} == {"individual", "business"}
    assert box.post("/v2/customers:search", {"email": "nadie@example.invalid"}).json() == {"items": [], "count": 0}


# --- signed document links ----------------------------------------------------------------------


def _doc(box: Box) -> str:
    return box.store.policies[box.store.customer_policies[box.cid(JULIETA.key)][0]]["documents"][0]["id"]


def test_a_signed_link_serves_a_real_pdf(box: Box) -> None:
    link = box.get(f"/v2/documents/{_doc(box)}/link").json()
    assert link["expires_at"].endswith("Z")
    response = box.http.get(link["url"], timeout=5)  # no API key: the signature is the credential
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4") and response.content.rstrip().endswith(b"%%EOF")
    assert b"Australis Seguros" in response.content


def test_tampered_and_expired_links_are_403(box: Box) -> None:
    doc = _doc(box)
    url = box.get(f"/v2/documents/{doc}/link").json()["url"]
    query = parse_qs(urlsplit(url).query)
    tampered = url.replace(query["signature"][0], "0" * 64)
    longer = url.replace(f"expires={query['expires'][0]}", f"expires={int(query['expires'][0]) + 3600}")
    for bad in (tampered, longer):
        response = box.http.get(bad, timeout=5)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "signature_invalid")
    box.http.post(box.url + "/__sandbox/links", json={"expire_next": 1}, timeout=5)
    expired = box.get(f"/v2/documents/{doc}/link").json()["url"]
    response = box.http.get(expired, timeout=5)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "signature_expired")
    assert box.http.get(box.get(f"/v2/documents/{doc}/link").json()["url"], timeout=5).status_code == 200


def test_links_expire_after_their_ttl() -> None:
    app = make_app(today=TODAY, link_ttl=1)
    with running(app) as url:
        box = Box(url, app)
        link = box.get(f"/v2/documents/{_doc(box)}/link").json()["url"]
        assert box.http.get(link, timeout=5).status_code == 200
        time.sleep(2.05)
        assert box.http.get(link, timeout=5).status_code == 403


# --- actions -------------------------------------------------------------------------------------


def test_claims_are_idempotent_by_key(box: Box) -> None:
    pid = box.store.customer_policies[box.cid(JULIETA.key)][0]
    body = {
        "policy_id": pid,
        "event": "RC",
        "occurred_at": "2026-11-20T10:00:00-03:00",
        "description": "Choque en Av. Corrientes",
        "contact_phone": "11 5555-0100",
    }
    headers = {**KEY, "Idempotency-Key": "k-1"}
    first, again = box.post("/v2/claims", body, headers=headers), box.post("/v2/claims", body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert first.json()["event"] == "collision" and first.json()["coverage_code"] == "RC"
    future = box.post("/v2/claims", {**body, "occurred_at": "2099-01-01T00:00:00Z"})
    naive = box.post("/v2/claims", {**body, "occurred_at": "2026-11-20T10:00:00"})
    assert [future.json()["error"]["code"], naive.json()["error"]["code"]] == ["invalid_occurred_at"] * 2


def test_payment_links_only_for_unpaid_premiums(box: Box) -> None:
    premiums = [r for rs in box.store.premiums.values() for r in rs]
    due = next(r for r in premiums if r["status"] == "DUE")
    paid = next(r for r in premiums if r["status"] == "PAID")
    link = box.post("/v2/payment-links", {"premium_number": due["number"]})
    assert link.status_code == 201 and link.json()["amount"] == due["amount"]
    page = box.http.get(link.json()["url"], timeout=5)
    assert page.status_code == 200 and due["number"] in page.text and "ficticia" in page.text
    refused = box.post("/v2/payment-links", {"premium_number": paid["number"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "premium_not_payable")


# --- determinism and size ----------------------------------------------------------------------


def test_the_data_is_deterministic_from_the_seed() -> None:
    one, two, other = build(2026, today=TODAY), build(2026, today=TODAY), build(7, today=TODAY)
    assert one.customers == two.customers and one.policies == two.policies and one.claims == two.claims
    assert one.premiums == two.premiums
    assert set(one.policies) != set(other.policies)


def test_a_thousand_clients_build_quickly() -> None:
    started = time.monotonic()
    store = build(2026, clients=1000, today=TODAY)
    elapsed = time.monotonic() - started
    assert len(store.customers) == 1000 and len(store.policies) > 2000
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert len({p["policy_number"] for p in store.policies.values()}) == len(store.policies)
    standard = build(2026, today=TODAY)
    assert {k: store.customers[k] for k in standard.customers} == standard.customers


# --- large customers (issue 9) ------------------------------------------------------------------------


def test_a_large_customer_is_generated_page_by_page_and_the_same_every_time() -> None:
    from werkzeug.test import Client

    julieta = population(2026).argentines[0]
    assert julieta.cuil
    app = make_app(policies_per_client=230, large_clients=[julieta.cuil])
    store = app.sandbox  # type: ignore[attr-defined]
    cid = store.store.by_tax_id[("CUIL", julieta.cuil)]
    client = Client(app)
    headers = {"X-Api-Key": SANDBOX_API_KEY}

    def listing(path: str) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            params = f"?limit=100{'&cursor=' + cursor if cursor else ''}"
            page = client.get(f"/v2/customers/{cid}/{path}{params}", headers=headers).get_json()
            assert page["total_count"] >= len(items) + page["count"]
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    policies = listing("policies")
    assert len(policies) == 230 and len({p["id"] for p in policies}) == 230
    assert listing("policies") == policies  # built again, the same
    extra = store.store.extras.count(cid)
    generated = policies[-1]
    premiums = client.get(f"/v2/policies/{generated['id']}/premiums?limit=100", headers=headers).get_json()
    assert premiums["items"] and all(p["policy_id"] == generated["id"] for p in premiums["items"])
    claims = listing("claims")
    assert len(claims) == len(store.store.claims[cid]) + (extra + 7) // 10
    assert {c["policy_id"] for c in claims} <= {p["id"] for p in policies}
    link = client.get(f"/v2/documents/{generated['documents'][0]['id']}/link", headers=headers).get_json()
    url = urlsplit(link["url"])
    file = client.get(f"{url.path}?{url.query}")
    assert file.status_code == 200 and file.data.startswith(b"%PDF")
    assert len(store.store.policies) == len(build().policies)  # the generated ones are not kept
