"""Insurer connectors (DESIGN §4): a package that stands alone.

It never imports ``aggregator``, Flask or SQLAlchemy; it speaks HTTP with ``requests`` and
returns the canonical records of ``connectors.models``. The framework, the GNP connector and
the sandboxes arrive with issue 3.
"""
