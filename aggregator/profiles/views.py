"""Client profile views."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("profiles", __name__, url_prefix="/profiles")
