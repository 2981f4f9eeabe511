"""The demo's sample pairs work against the sandboxes, and the README lists the manual ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from aggregator.demo import DEMO_PAIRS, MANUAL_PAIRS, Pair
from aggregator.extensions import db
from aggregator.models import InsurerAccount, SyncRun
from aggregator.models.types import utcnow
from aggregator.services import insurers
from connectors.models import TaxId, TaxIdType
from tests.conftest import register_verified
from tests.support.data import link_pair, user_id

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    "pair", DEMO_PAIRS + MANUAL_PAIRS, ids=lambda p: f"{p.insurer}-{p.id_number}-{p.policy_number}"
)
def test_each_pair_links_in_its_sandbox(app: Flask, sandboxes: Any, pair: Pair) -> None:
    with app.app_context():
        connector = insurers.connector(pair.insurer)
        assert connector is not None
        match = connector.verify_client(TaxId(TaxIdType(pair.id_type), pair.id_number), pair.policy_number)
        assert match is not None, f"the {pair.insurer} sandbox refuses {pair}"
        assert match.name == pair.name


def test_manual_pairs_are_not_the_demo_users_people_and_are_in_the_readme() -> None:
    demo_people = {p.id_number for p in DEMO_PAIRS}
    assert not demo_people & {p.id_number for p in MANUAL_PAIRS}
    readme = README.read_text(encoding="utf-8")
    for pair in MANUAL_PAIRS:
        assert pair.id_number in readme and pair.policy_number in readme, f"README misses {pair}"
    assert {p.insurer for p in MANUAL_PAIRS} == set(insurers.SANDBOX_PORTS), "a pair per sandbox"


def test_sync_command_syncs_due_accounts_and_reports_health(app: Flask, client: Any, mailbox: Any) -> None:
    register_verified(client, mailbox, "cron@example.com")
    with app.app_context():
        pair = MANUAL_PAIRS[0]
        account = link_pair(
            user_id("cron@example.com"),
            pair.insurer,
            TaxId(TaxIdType(pair.id_type), pair.id_number),
            pair.policy_number,
        )
        account_id = account.id
        # Not due yet: the command leaves it alone.
        runner = app.test_cli_runner()
        result = runner.invoke(args=["sync"])
        assert result.exit_code == 0, result.output
        assert "0 insurer account(s) queued" in result.output
        db.session.execute(
            update(InsurerAccount).where(InsurerAccount.id == account_id).values(next_sync_at=utcnow() - timedelta(1))
        )
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(SyncRun))
    result = runner.invoke(args=["sync"])
    assert result.exit_code == 0, result.output
    assert "1 insurer account(s) queued" in result.output and "ok 1" in result.output
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(SyncRun))
        assert before is not None and after == before + 1
        synced = db.session.get(InsurerAccount, account_id)
        assert synced is not None and synced.next_sync_at is not None and synced.next_sync_at > utcnow()
