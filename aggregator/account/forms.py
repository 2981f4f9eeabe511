"""Forms of "Mi cuenta"."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from aggregator.auth.forms import EMAIL, PasswordRules
from aggregator.forms import Form
from aggregator.services.passwords import MAX_LENGTH

PHONE = Regexp(r"^\+?[0-9 ()\-]{8,20}$", message=_l("Enter a phone number with 10 digits, for example 55 1234 5678."))

try:  # WTForms 3.3+ declares options as SelectChoice; older releases take (value, label) pairs.
    from wtforms.fields.choices import SelectChoice

    COUNTRIES: list[Any] = [SelectChoice("MX", _l("Mexico")), SelectChoice("AR", _l("Argentina"))]
except ImportError:  # pragma: no cover - WTForms < 3.3
    COUNTRIES = [("MX", _l("Mexico")), ("AR", _l("Argentina"))]

# Labels of the profile fields, shared by the form and the overview's "what is missing" list.
PROFILE_LABELS: dict[str, Any] = {
    "full_name": _l("Full name"),
    "phone": _l("Mobile phone"),
    "address_line": _l("Street and number"),
    "city": _l("City or municipality"),
    "state": _l("State or province"),
    "postal_code": _l("Postal code"),
    "country": _l("Country"),
}


class ProfileForm(Form):
    full_name = StringField(
        PROFILE_LABELS["full_name"], validators=[DataRequired(_l("Enter your name.")), Length(max=200)]
    )
    phone = StringField(PROFILE_LABELS["phone"], validators=[DataRequired(_l("Enter a phone number.")), PHONE])
    address_line = StringField(PROFILE_LABELS["address_line"], validators=[Optional(), Length(max=300)])
    city = StringField(PROFILE_LABELS["city"], validators=[Optional(), Length(max=120)])
    state = StringField(PROFILE_LABELS["state"], validators=[Optional(), Length(max=120)])
    postal_code = StringField(
        PROFILE_LABELS["postal_code"],
        validators=[Optional(), Regexp(r"^[A-Za-z0-9 ]{4,10}$", message=_l("Enter a valid postal code."))],
    )
    country = SelectField(PROFILE_LABELS["country"], choices=COUNTRIES, default="MX")


CURRENT_PASSWORD = [DataRequired(_l("Enter your current password.")), Length(max=MAX_LENGTH * 4)]


class _AccountBoundForm(Form):
    """A form whose password rules are checked against the signed-in user's email."""

    def __init__(self, *args: Any, account_email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_email = account_email


class SetPasswordForm(_AccountBoundForm):
    """A first password for an account that only signs in with a provider (authorised by a recent sign-in)."""

    # Named ``password`` so that the live rule check (auth.password_check) reads it as on sign-up.
    password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Choose a password.")), PasswordRules(email_field=None)]
    )
    password_confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The passwords do not match."))],
    )


class ChangePasswordForm(SetPasswordForm):
    """Current password, new password, repeat."""

    current_password = PasswordField(_l("Current password"), validators=CURRENT_PASSWORD)


class ChangeEmailForm(Form):
    """A new address; the current password re-authenticates (optional field for provider-only accounts)."""

    new_email = EmailField(_l("New email"), validators=EMAIL)
    # Its own id: the password form on the same page has a "current_password" field too.
    current_password = PasswordField(
        _l("Current password"), validators=[Optional(), Length(max=MAX_LENGTH * 4)], id="email-current-password"
    )


class DeleteAccountForm(Form):
    """Re-authentication plus an explicit confirmation."""

    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=MAX_LENGTH * 4)])
    confirm = BooleanField(
        _l("I understand that my account and my access to every linked client profile will be deleted"),
        validators=[DataRequired(_l("Tick the box to confirm that you want to delete your account."))],
    )


class NotificationsForm(Form):
    """One email switch per notification kind; the fields are added by ``notifications_form``."""


def notifications_form(current: dict[str, bool], kinds: list[tuple[str, Any]]) -> NotificationsForm:
    """A form with one switch per kind, pre-set from the user's current choices."""

    class _Form(NotificationsForm):
        pass

    for kind, label in kinds:
        setattr(_Form, kind, BooleanField(label, default=current.get(kind, False)))
    return _Form()
