"""Extension objects, created without an app and bound in create_app()."""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_login import LoginManager

from aggregator.db import Database
from aggregator.forms import MaskedCSRFProtect
from aggregator.htmx import htmx
from aggregator.netutil import client_ip

db = Database()
login_manager = LoginManager()
csrf = MaskedCSRFProtect()
babel = Babel()
oauth = OAuth()
limiter = Limiter(key_func=client_ip, default_limits=[])
compress = Compress()

__all__ = ["babel", "compress", "csrf", "db", "htmx", "limiter", "login_manager", "oauth"]
