"""Connector tests: the conformance kit's plain ``assert`` statements get pytest's detailed messages."""

from __future__ import annotations

import pytest

# Before anything imports the kit; a connector package running the kit in its own tests does the same.
pytest.register_assert_rewrite("connectors.testing")
