"""All models, imported so that ``Base.metadata`` knows every table."""

from aggregator.models.audit import AuditEvent
from aggregator.models.user import (
    Consent,
    NotificationPreference,
    OneTimeToken,
    SocialIdentity,
    User,
    UserSession,
)

__all__ = [
    "AuditEvent",
    "Consent",
    "NotificationPreference",
    "OneTimeToken",
    "SocialIdentity",
    "User",
    "UserSession",
]
