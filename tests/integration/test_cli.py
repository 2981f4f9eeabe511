"""The ``aggregator`` command: migrations and account creation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
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


def test_instance_folder_is_instance_under_the_working_directory_unless_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from aggregator import PACKAGE_DIR, create_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_INSTANCE_PATH", raising=False)
    here = create_app({"ENV_NAME": "testing"})
    instance = (tmp_path / "instance").resolve()
    assert Path(here.instance_path) == instance
    assert not instance.is_relative_to(PACKAGE_DIR.parent), "never next to the code (site-packages)"
    assert (instance / "secret_key").is_file() and here.config["SECRET_KEY"]
    assert here.config["DATABASE_URL"] == f"sqlite:///{instance / 'aggregator.db'}"

    monkeypatch.setenv("AGGREGATOR_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    assert Path(create_app({"ENV_NAME": "testing"}).instance_path) == (tmp_path / "elsewhere").resolve()


def test_demo_prints_where_its_data_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import werkzeug.serving

    from aggregator import cli, create_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_INSTANCE_PATH", raising=False)
    served: list[tuple[str, int]] = []
    # Everything but the printing and the database: no server, sandboxes, syncs or scheduler.
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda host, port, _app, **_kw: served.append((host, port)))
    monkeypatch.setattr(cli, "_start_demo_sandboxes", lambda _host: [])
    monkeypatch.setattr(cli, "seed_demo_profiles", lambda _app, _email: "")
    monkeypatch.setattr(cli, "_start_scheduler", lambda _app: None)
    demo_app = create_app({"ENV_NAME": "testing"})

    result = demo_app.test_cli_runner().invoke(args=["demo", "--port", "5999"])

    assert result.exit_code == 0, result.output
    assert served == [("127.0.0.1", 5999)]
    instance = (tmp_path / "instance").resolve()
    shown = dict(re.findall(r"^ +(Instance folder|Database|Email outbox|Secret key) +(\S+)$", result.output, re.M))
    assert shown["Instance folder"] == str(instance)
    assert shown["Database"] == f"sqlite:///{instance / 'aggregator.db'}"
    assert shown["Email outbox"] == str(instance / "outbox")
    assert shown["Secret key"] == str(instance / "secret_key")
    assert (instance / "aggregator.db").is_file(), "the database is where the demo says"


def test_data_locations_name_the_secret_keys_origin_and_hide_passwords(app_config: dict[str, Any]) -> None:
    from aggregator import create_app
    from aggregator.cli import data_locations

    given = create_app(
        dict(app_config, SECRET_KEY="from-the-environment", MAIL_URL="smtps://mailer:hunter2@mail.example.com:465")
    )
    shown = dict(data_locations(given))
    assert shown["Secret key"] == "from AGGREGATOR_SECRET_KEY (not stored)"
    assert "hunter2" not in shown["Email outbox"] and "mail.example.com" in shown["Email outbox"]
