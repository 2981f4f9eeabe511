"""Policy and claim views."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("policies", __name__)
