"""'Mi cuenta' → sign-in methods: connected providers, connect (re-authenticated), disconnect."""

from __future__ import annotations

from typing import Any

from flask import render_template

from aggregator.account.views import bp


# TEMPORARY stub (replaced by the real page).
@bp.route("/connections")
def connections() -> Any:
    return render_template("account/index.html", active="connections")
