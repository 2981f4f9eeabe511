"""Policies and claims across insurers: detail pages, documents, the claims list."""
