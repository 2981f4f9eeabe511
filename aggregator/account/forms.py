"""Forms of "Mi cuenta"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

PHONE = Regexp(r"^\+?[0-9 ()\-]{8,20}$", message=_l("Enter a phone number with 10 digits, for example 55 1234 5678."))

COUNTRIES = [("MX", _l("Mexico")), ("AR", _l("Argentina"))]


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), Length(max=200)])
    phone = StringField(_l("Mobile phone"), validators=[DataRequired(_l("Enter a phone number.")), PHONE])
    address_line = StringField(_l("Street and number"), validators=[Optional(), Length(max=300)])
    city = StringField(_l("City or municipality"), validators=[Optional(), Length(max=120)])
    state = StringField(_l("State or province"), validators=[Optional(), Length(max=120)])
    postal_code = StringField(
        _l("Postal code"),
        validators=[Optional(), Regexp(r"^[A-Za-z0-9 ]{4,10}$", message=_l("Enter a valid postal code."))],
    )
    country = SelectField(_l("Country"), choices=COUNTRIES, default="MX")
