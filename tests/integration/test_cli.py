"""The ``aggregator`` command: migrations and account creation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, inspect, select

from aggregator.extensions import db
from aggregator.models import User


def test_db_upgrade_creates_the_schema_on_an_empty_database(app_config: dict[str, Any], tmp_path: Path) -> None:
    from aggregator import create_app

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = create_app(dict(app_config, DATABASE_URL=url))
    result = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"users", "user_sessions", "social_identities", "audit_events", "alembic_version"} <= tables


def test_create_user_checks_the_password_rules_and_duplicates(app: Flask) -> None:
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-user", "--email", "ops@example.com", "--password", "short"])
    assert weak.exit_code != 0 and "12" in weak.output
    ok = runner.invoke(args=["create-user", "--email", "Ops@Example.com", "--password", "Mango#Verde2026!"])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(args=["create-user", "--email", "ops@example.com", "--password", "Mango#Verde2026!"])
    assert again.exit_code != 0 and "already exists" in again.output
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.email == "ops@example.com" and user.is_verified
