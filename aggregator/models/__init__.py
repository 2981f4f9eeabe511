"""All models, imported so that ``Base.metadata`` knows every table."""

from aggregator.models.audit import AuditEvent
from aggregator.models.insurance import (
    Claim,
    ClientProfile,
    Coverage,
    Document,
    GrantAccount,
    Insurer,
    InsurerAccount,
    Job,
    LinkThrottle,
    Policy,
    ProfileGrant,
    Receipt,
    SyncRun,
)
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
    "Claim",
    "ClientProfile",
    "Consent",
    "Coverage",
    "Document",
    "GrantAccount",
    "Insurer",
    "InsurerAccount",
    "Job",
    "LinkThrottle",
    "NotificationPreference",
    "OneTimeToken",
    "Policy",
    "ProfileGrant",
    "Receipt",
    "SocialIdentity",
    "SyncRun",
    "User",
    "UserSession",
]
