"""Shared pieces of the insurer sandboxes: a loopback server, fault injection, fictional people, PDFs.

Sandboxes are plain WSGI apps (werkzeug, no Flask): ``connectors`` stands alone (DESIGN §2).
"""

from connectors.sandbox.faults import FaultInjector, Faults
from connectors.sandbox.server import running, serve

__all__ = ["FaultInjector", "Faults", "running", "serve"]
