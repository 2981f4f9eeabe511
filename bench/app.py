"""The portal as gunicorn serves it in production, plus a hello-world baseline route."""

from __future__ import annotations

from flask import Flask

from aggregator import create_app


def make_app() -> Flask:
    """``gunicorn 'bench.app:make_app()'``: the real app and ``/__bench/hello`` in the same process."""
    app = create_app()

    @app.get("/__bench/hello")
    def _hello() -> str:
        return "hello"

    return app
