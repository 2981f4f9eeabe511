"""Forms of a profile's "Acceso" page and of access requests (granting, revoking, asking, answering)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, EmailField, PasswordField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from aggregator.auth.forms import EMAIL
from aggregator.forms import Form
from aggregator.services.consent import MESSAGE_MAX
from aggregator.services.passwords import MAX_LENGTH

MAX_EXPIRY = timedelta(days=730)  # a client's consent is given for at most two years at a time

try:  # WTForms 3.3+ declares options as SelectChoice; older releases take (value, label) pairs.
    from wtforms.fields.choices import SelectChoice

    def _choice(value: str, label: Any) -> Any:
        return SelectChoice(value, label)

except ImportError:  # pragma: no cover - WTForms < 3.3

    def _choice(value: str, label: Any) -> Any:
        return (value, label)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


SCOPE_CHOICES = [_choice("read", _l("See")), _choice("manage", _l("See and act for the client"))]


class _FutureDate:
    """Validator: a date after today and at most two years ahead (``today`` in the user's time zone)."""

    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self, _form: Any, field: Any) -> None:
        if field.data is None:
            return
        if field.data <= self.today:
            raise ValidationError(_l("Choose a date after today."))
        if field.data > self.today + MAX_EXPIRY:
            raise ValidationError(_l("Choose a date within the next two years."))


class GrantOrgForm(Form):
    """Give an organization access to a profile: its tax ID or invitation code, scope, optional end date."""

    org = StringField(
        _l("Tax ID (CUIT or RFC) or invitation code of the organization"),
        validators=[DataRequired(_l("Enter the organization's tax ID or invitation code.")), Length(max=40)],
        filters=[_strip],
    )
    scope = RadioField(_l("What it may do"), choices=SCOPE_CHOICES, default="read")
    expires_on = DateField(_l("Access ends on (optional)"), validators=[Optional()], format="%Y-%m-%d")
    claim_details = BooleanField(_l("Also let it see the details of the claims (descriptions, amounts, documents)"))
    confirm = StringField(validators=[Optional(), Length(max=1)])

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        self.expires_on.validators = [*self.expires_on.validators, _FutureDate(today)]


class RevokeOrgForm(Form):
    """End an organization's access: the password again (accounts with one)."""

    password = PasswordField(_l("Your password"), validators=[Optional(), Length(max=MAX_LENGTH * 4)])


class AccessRequestForm(Form):
    """An organization asks a client for access."""

    email = EmailField(_l("Client's email"), validators=EMAIL, filters=[_strip])
    scope = RadioField(_l("Access you ask for"), choices=SCOPE_CHOICES, default="read")
    message = TextAreaField(
        _l("Message to the client (optional)"),
        validators=[
            Optional(),
            Length(max=MESSAGE_MAX, message=_l("Write at most %(max)d characters.")),
        ],
        filters=[_strip],
    )


class AnswerRequestForm(Form):
    """The client approves (choosing a profile) or declines an organization's request."""

    profile_id = RadioField(_l("Which profile to share"), choices=[], validate_choice=False)
    claim_details = BooleanField(_l("Also let it see the details of the claims (descriptions, amounts, documents)"))

    def chosen_profile(self, allowed: set[int]) -> int | None:
        """The profile picked, if it is one of ``allowed`` (the user's own); else None, with the error set."""
        raw = self.profile_id.data
        try:
            value = int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            value = None
        if value is None or value not in allowed:
            self.profile_id.errors = [*self.profile_id.errors, str(_l("Choose the profile you want to share."))]
            return None
        return value


def profile_choices(rows: list[tuple[int, str]]) -> list[Any]:
    """Radio options for ``AnswerRequestForm.profile_id`` from (id, label) pairs."""
    return [_choice(str(pid), label) for pid, label in rows]
