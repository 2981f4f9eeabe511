"""Typed connector errors. The portal decides what to do from the type alone (DESIGN §4)."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises. Messages never hold secrets or personal IDs."""


class InsurerUnavailable(ConnectorError):
    """The insurer cannot be reached or keeps failing (5xx, timeouts, open circuit): retry later."""

    def __init__(self, message: str = "insurer unavailable", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ConnectorError):
    """The portal's credentials or settings for this insurer are wrong (401/403 on our own identity)."""


class ReauthRequired(ConnectorError):
    """The client's consent or session with the insurer has ended: a person must act again."""


class NotSupported(ConnectorError):
    """This connector does not offer the capability asked for."""


class InvalidResponse(ConnectorError):
    """The insurer answered something we cannot trust (malformed, partial, inconsistent)."""
