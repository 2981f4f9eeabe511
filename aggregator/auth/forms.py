"""Forms of the sign-up, sign-in and password-reset pages."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from aggregator.forms import Form
from aggregator.services.emails import try_normalize_email
from aggregator.services.passwords import MAX_LENGTH, password_errors


def _email_shape(_form: Any, field: Any) -> None:
    if field.data and try_normalize_email(field.data) is None:
        raise ValidationError(_l("Enter a valid email address, for example ana@example.com."))


class PasswordRules:
    """Validator: the shared password rules, against the email in ``email_field`` of the form."""

    def __init__(self, email_field: str | None = "email") -> None:
        self.email_field = email_field

    def __call__(self, form: Any, field: Any) -> None:
        email = ""
        if self.email_field and self.email_field in form:
            email = form[self.email_field].data or ""
        elif getattr(form, "account_email", None):
            email = form.account_email
        errors = password_errors(field.data or "", email)
        if errors:
            raise ValidationError(_l("Your password does not meet every rule yet."))


EMAIL = [DataRequired(_l("Enter your email address.")), Length(max=320), _email_shape]


class RegisterForm(Form):
    email = EmailField(_l("Email"), validators=EMAIL)
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password.")), PasswordRules()])
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The passwords do not match."))],
    )
    accept_terms = BooleanField(
        _l("I accept the terms of service and the privacy notice"),
        validators=[DataRequired(_l("You need to accept the terms and the privacy notice to register."))],
    )


class LoginForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=320)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=MAX_LENGTH * 4)]
    )


class ForgotForm(Form):
    email = EmailField(_l("Email"), validators=EMAIL)


class ResetForm(Form):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Choose a password.")), PasswordRules(email_field=None)]
    )
    password_confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The passwords do not match."))],
    )

    def __init__(self, *args: Any, account_email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_email = account_email


class EmptyForm(Form):
    """Only a CSRF token: for buttons that POST (sign out, resend, confirm a link)."""
