"""Alembic, driven from the app: ``aggregator db upgrade`` and the test fixtures use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from flask import Flask


def alembic_config(app: Flask) -> Config:
    """An Alembic config pointing at migrations/ and the app's database."""
    from aggregator import asset_dir

    cfg = Config()
    cfg.set_main_option("script_location", asset_dir("migrations"))
    cfg.set_main_option("sqlalchemy.url", app.config["DATABASE_URL"].replace("%", "%%"))
    cfg.attributes["flask_app"] = app
    return cfg


def upgrade(app: Flask, revision: str = "head") -> None:
    """Bring the database schema to ``revision``."""
    with app.app_context():
        command.upgrade(alembic_config(app), revision)
    if revision == "head":
        from aggregator.services import insurers

        insurers.seed(app)  # the insurers' rows exist before the first request needs them


def downgrade(app: Flask, revision: str) -> None:
    """Take the database schema back to ``revision``."""
    with app.app_context():
        command.downgrade(alembic_config(app), revision)
