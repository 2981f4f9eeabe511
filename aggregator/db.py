"""The database handle: one engine per app, one scoped session per request or thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app
from flask.globals import app_ctx
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

if TYPE_CHECKING:
    from flask import Flask

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names are stable for Alembic."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings this project relies on for each backend."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url:
            kwargs.pop("pool_size", None)  # one shared in-memory connection: no pool to size
            kwargs.pop("max_overflow", None)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _app_ctx_id() -> int:
    return id(app_ctx._get_current_object())  # type: ignore[attr-defined]


class Database:
    """Engine per app + a scoped session bound to the current app; the request commits, services flush."""

    def __init__(self) -> None:
        # One session per app context (not per thread): a job run inline after a request, in its own
        # app context, gets its own session and transaction.
        self.session: scoped_session[Session] = scoped_session(self._new_session, scopefunc=_app_ctx_id)  # type: ignore[arg-type]

    @staticmethod
    def _new_session() -> Session:
        return Session(bind=current_app.extensions["db_engine"], expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        """The engine of the current app."""
        engine: Engine = current_app.extensions["db_engine"]
        return engine

    def init_app(self, app: Flask) -> None:
        """Create the engine named by DATABASE_URL and clean the session after each request."""
        app.extensions["db_engine"] = make_engine(
            app.config["DATABASE_URL"],
            pool_size=int(app.config.get("DATABASE_POOL_SIZE") or 10),
            max_overflow=int(app.config.get("DATABASE_MAX_OVERFLOW") or 30),
        )

        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            if exc is not None:
                self.session.rollback()
            self.session.remove()
