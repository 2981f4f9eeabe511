"""The conformance kit (``connectors.testing``) over every installed connector and the example connector.

``python -m pytest tests/connectors -k <slug>`` runs it for one connector.
"""

from __future__ import annotations

from connectors.base import Connector
from connectors.registry import discover
from connectors.testing import conformance_tests
from tests.connectors.example_insurer import EjemploConnector

INSTALLED = discover()  # the ``aggregator.connectors`` entry points; broken imports are logged and skipped
CONNECTORS: list[type[Connector]] = [EjemploConnector, *INSTALLED.values()]

TestConformance = conformance_tests(*CONNECTORS)


def test_the_kit_runs_on_every_installed_connector_and_the_example() -> None:
    """The parametrisation is not empty and leaves no installed connector out."""
    slugs = [c.slug for c in CONNECTORS]
    assert "ejemplo" in slugs
    assert set(INSTALLED) <= set(slugs)
    assert len(set(slugs)) == len(slugs)


def test_discover_finds_gnp_and_australis() -> None:
    """Both connectors of issue 3 are registered in pyproject.toml and import cleanly."""
    assert {"gnp", "australis"} <= set(discover())
