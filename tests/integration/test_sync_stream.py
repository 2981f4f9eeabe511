"""The sync engine on a stream of parts (issue 9): staged page by page, applied in one transaction, all or nothing."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from aggregator.extensions import db
from aggregator.models import Claim, Coverage, Document, InsurerAccount, Policy, Receipt, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from bench.upsert import synthetic_portfolio
from connectors import models as cm
from connectors.errors import InsurerUnavailable
from tests.conftest import Sandbox
from tests.support.data import link_sample


def _user() -> int:
    user = User(email="flujo@coberta.example", password_hash=None, verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user.id


def _account(app: Flask) -> InsurerAccount:
    return link_sample(_user(), "gnp", run_sync=False)


def _rows(model: Any, account_id: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id)) or 0)


def _feed(monkeypatch: pytest.MonkeyPatch, parts: Any) -> None:
    """The GNP connector's stream replaced by ``parts`` (a callable: client_ref -> iterator of parts)."""
    conn = insurers.connector("gnp")
    assert conn is not None
    monkeypatch.setattr(conn, "fetch_parts", parts)


def _pages(portfolio: cm.Portfolio, size: int = 3, claims_first: bool = False) -> Iterator[cm.PortfolioPart]:
    """The portfolio as a stream of small pages (claims before policies if asked)."""
    yield portfolio.client
    policies = [cm.PolicyPage(portfolio.policies[i : i + size]) for i in range(0, len(portfolio.policies), size)]
    claims = [cm.ClaimPage(portfolio.claims[i : i + size]) for i in range(0, len(portfolio.claims), size)]
    yield from (claims + policies) if claims_first else (policies + claims)


def test_children_written_in_bulk_read_back_as_the_records_say(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    """The driver-level bulk insert (``_RawInsert``) converts dates, aware datetimes, booleans and NULLs as
    SQLAlchemy would: what is read back is what the connector gave."""
    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 4, claims_every=2)
        sync.apply_portfolio(db.session(), account, portfolio, utcnow())
        db.session.commit()
        policies = {p.external_id: p for p in portfolio.policies}
        for row in db.session.scalars(select(Policy).where(Policy.account_id == account.id)):
            record = policies[row.external_id]
            receipts = db.session.scalars(select(Receipt).where(Receipt.policy_id == row.id).order_by(Receipt.id))
            got = [
                (r.number, r.due_date, r.amount_cents, r.status, r.period_end, r.paid_at, r.method) for r in receipts
            ]
            want = [
                (r.number, r.due_date, sync.cents(r.amount.amount), r.status.value, r.period_end, r.paid_at, r.method)
                for r in record.receipts
            ]
            assert got == want
            assert all(r.paid_at is None or r.paid_at.utcoffset() is not None for r in record.receipts)
            coverages = db.session.scalars(
                select(Coverage).where(Coverage.policy_id == row.id).order_by(Coverage.position)
            )
            assert [(c.code, c.covered, c.notes, c.deductible_kind) for c in coverages] == [
                (c.code, c.covered, c.notes, c.deductible.kind.value if c.deductible else None)
                for c in record.coverages
            ]
            documents = db.session.scalars(select(Document).where(Document.policy_id == row.id).order_by(Document.id))
            assert [(d.ref, d.kind, d.claim_id, d.source) for d in documents] == [
                (d.ref, d.kind.value, None, "insurer") for d in record.documents
            ]
        claim_docs = db.session.scalar(select(func.count()).select_from(Document).where(Document.claim_id.is_not(None)))
        assert claim_docs == sum(len(c.documents) for c in portfolio.claims) > 0


def test_the_hash_of_a_policy_with_open_claims_is_the_one_policy_rows_gives() -> None:
    """Policies are staged before their claims are known: the open-claims count and the hash that covers it
    are set when applied, and must equal what ``policy_rows`` computes knowing the count."""
    portfolio = synthetic_portfolio("c-1", 3, claims_every=1)
    for policy in portfolio.policies:
        staged = sync._spooled(sync.policy_rows(policy))
        for count in (0, 1, 3):
            assert sync._with_open_claims(staged, count)[1] == sync.policy_rows(policy, count).values


@pytest.mark.parametrize("claims_first", [False, True], ids=["policies_first", "claims_first"])
def test_pages_in_any_order_give_the_rows_of_one_piece(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch, claims_first: bool
) -> None:
    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 7, claims_every=2)
        now = datetime(2026, 6, 1, 12, tzinfo=UTC)
        whole = sync.apply_portfolio(db.session(), account, portfolio, now)
        db.session.commit()
        before = db.session.execute(select(Policy.external_id, Policy.content_hash, Policy.open_claims)).all()
        assert whole.added == 7 + len(portfolio.claims) and any(open_ for _e, _h, open_ in before)
        _feed(monkeypatch, lambda ref: _pages(portfolio, claims_first=claims_first))
        run = sync.sync_account(account.id, "refresh")
        assert run is not None and run.outcome == "ok", run and run.detail
        assert (run.added, run.changed, run.removed) == (0, 0, 0)  # the same rows, hashes included
        assert db.session.execute(select(Policy.external_id, Policy.content_hash, Policy.open_claims)).all() == before


def _broken(portfolio: cm.Portfolio, how: str) -> Iterator[Any]:
    policies = portfolio.policies
    if how == "client_not_first":
        yield cm.PolicyPage(policies[:2])
        yield portfolio.client
    elif how == "client_twice":
        yield portfolio.client
        yield portfolio.client
    elif how == "another_client":
        yield dataclasses.replace(portfolio.client, client_ref="someone-else")
    elif how == "policy_on_two_pages":
        yield portfolio.client
        yield cm.PolicyPage(policies[:2])
        yield cm.PolicyPage(policies[1:])
    elif how == "claim_of_no_policy":
        yield portfolio.client
        yield cm.PolicyPage(policies[1:])  # the first policy, which has a claim, never comes
        yield cm.ClaimPage(portfolio.claims)
    elif how == "not_a_part":
        yield portfolio.client
        yield policies[0]
    elif how == "no_client":
        yield from ()


BROKEN = ["client_not_first", "client_twice", "another_client", "policy_on_two_pages", "claim_of_no_policy",
          "not_a_part", "no_client"]  # fmt: skip


@pytest.mark.parametrize("how", BROKEN)
def test_a_stream_that_breaks_its_rules_changes_nothing(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 4, claims_every=2)
        _feed(monkeypatch, lambda ref: _broken(portfolio, how))
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "failed" and run.error == "invalid", run and (run.error, run.detail)
        assert _rows(Policy, account.id) == 0 and _rows(Claim, account.id) == 0


def test_the_stream_is_closed_when_the_engine_stops_early(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector's generator (and the page it reads ahead) stops as soon as the sync gives up on it."""
    closed: list[bool] = []

    def parts(_ref: str) -> Iterator[Any]:
        try:
            yield dataclasses.replace(portfolio.client, client_ref="someone-else")  # refused at once
            yield cm.PolicyPage(portfolio.policies)
        finally:
            closed.append(True)

    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 2)
        _feed(monkeypatch, parts)
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "failed"
        assert closed == [True]


def test_a_stream_that_outlasts_the_sync_lock_gives_up(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync never runs past 80% of SYNC_LOCK_MINUTES: another worker would take the account over."""

    def slow(_ref: str) -> Iterator[Any]:
        for page in _pages(portfolio, size=1):  # the client, then one policy a page, each 0.4 s late
            time.sleep(0.4)
            yield page

    monkeypatch.setitem(app.config, "SYNC_LOCK_MINUTES", 0.02)  # 1.2 s: it gives up after ~1 s
    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 10)
        _feed(monkeypatch, slow)
        began = time.monotonic()
        run = sync.sync_account(account.id, "link")
        assert time.monotonic() - began < 2.5
        assert run is not None and run.outcome == "failed" and run.error == "unavailable", run and run.detail
        assert _rows(Policy, account.id) == 0


def test_a_large_stage_spills_to_disk_and_reads_back_in_order() -> None:
    portfolio = synthetic_portfolio("c-1", 60, claims_every=5)
    staged = sync.stage(_pages(portfolio, size=7), "c-1", chunk=25)
    staged.policies.close()
    staged.claims.close()
    small = sync.Spool(memory=10_000)
    big = sync.stage(_pages(portfolio, size=7), "c-1", chunk=25)
    try:
        for chunk in big.policies.read():
            small.write(chunk)
        assert small.on_disk and small.chunks == 3  # 25 + 25 + 10 policies
        assert [item[0] for chunk in small.read() for item in chunk] == [p.external_id for p in portfolio.policies]
        assert big.policy_count == 60 and big.claim_count == 12
        assert big.open_by_policy == {c.policy_external_id: 1 for c in portfolio.claims}
        assert big.currencies == sync.portfolio_currencies(portfolio)
    finally:
        small.close()
        big.close()


def test_stage_gives_up_when_told(app: Flask) -> None:
    portfolio = synthetic_portfolio("c-1", 3)
    with pytest.raises(InsurerUnavailable):
        sync.stage(_pages(portfolio, size=1), "c-1", give_up_at=time.monotonic() - 1)


def test_write_passes_take_turns_on_sqlite_only(app: Flask) -> None:
    """SQLite has one writer: the syncs of a process queue for it rather than fail after its 5 s busy wait."""
    order: list[str] = []

    def first() -> None:
        with app.app_context(), sync.write_turn(db.session()):
            order.append("first in")
            time.sleep(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.1)
    with app.app_context():
        with sync.write_turn(db.session()):
            order.append("second in")
        sqlite = db.engine.url.get_backend_name() == "sqlite"
    thread.join()
    expected = ["first in", "first out", "second in"] if sqlite else ["first in", "second in", "first out"]
    assert order == expected


def test_insured_json_and_fold_give_what_the_generic_forms_give() -> None:
    """Their fast forms (every policy of a sync goes through them) must not change a stored value or a hash."""
    import unicodedata
    from datetime import date

    from connectors.gnp import mapping
    from connectors.gnp.sandbox.data import generate

    def generic_fold(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()

    store, _generator = generate(2026)
    policies = [
        mapping.policy(r.view(v), date(2026, 6, 1)) for r in store.policies.values() for v in (r.holder, *r.members)
    ]
    policies += list(synthetic_portfolio("c-1", 5).policies)
    kinds = set()
    for policy in policies:
        fast = sync.insured_json(policy.insured)
        generic = None if policy.insured is None else {**cm.as_plain(policy.insured), "kind": fast and fast["kind"]}
        assert fast == generic and (fast is None or list(fast) == list(generic or {}))
        kinds.add(fast and fast["kind"])
        for text in (policy.product, policy.holder.name, sync.insured_summary(policy.insured) or "", "Ñandú Ärzte"):
            assert sync.fold(text) == generic_fold(text)
    assert kinds >= {"vehicle", "device", "devices", "home", "people"}


def test_claims_after_the_policies_they_name_are_staged_again(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims first lets the reading pass run during the fetch; a claim page after the policies it names
    (interleaved pages) makes the engine stage the stream once more, the reading pass after it."""
    calls: list[int] = []

    def interleaved(_ref: str) -> Iterator[Any]:
        calls.append(1)
        yield portfolio.client
        yield cm.ClaimPage(portfolio.claims[:1])
        yield cm.PolicyPage(portfolio.policies)
        yield cm.ClaimPage(portfolio.claims[1:])  # open claims on policies already prepared

    with app.app_context():
        account = _account(app)
        portfolio = synthetic_portfolio(account.client_ref, 6, claims_every=2)
        reference = _account_copy_rows(app, portfolio)
        _feed(monkeypatch, interleaved)
        # Chunks of 2 policies: the first ones are prepared before the late claims come.
        monkeypatch.setattr(sync, "stage", functools.partial(sync.stage, chunk=2))
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "ok", run and run.detail
        assert len(calls) == 2
        rows = db.session.execute(
            select(Policy.external_id, Policy.content_hash, Policy.open_claims).where(Policy.account_id == account.id)
        ).all()
        assert sorted(rows) == reference


def _account_copy_rows(app: Flask, portfolio: cm.Portfolio) -> list[Any]:
    """What ``policy_rows`` computes for each policy, knowing every claim: (ext, hash, open claims), sorted."""
    open_by_policy: dict[str, int] = {}
    for claim in portfolio.claims:
        if claim.status.value in sync.OPEN_CLAIM_STATUSES:
            open_by_policy[claim.policy_external_id] = open_by_policy.get(claim.policy_external_id, 0) + 1
    rows = [sync.policy_rows(p, open_by_policy.get(p.external_id, 0)) for p in portfolio.policies]
    return sorted((r.external_id, r.values["content_hash"], r.values["open_claims"]) for r in rows)
