"""Forms of the organization pages: creating one, inviting members, roles, removal, settings."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError

from aggregator.forms import Form
from aggregator.orgs.labels import ORG_KIND_LABELS, role_label
from aggregator.services.emails import try_normalize_email
from aggregator.services.taxids import MAX_INPUT


def _strip(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _email_shape(_form: Any, field: Any) -> None:
    if field.data and try_normalize_email(field.data) is None:
        raise ValidationError(_l("Enter a valid email address, for example ana@example.com."))


def _one_of(values: Any, message: Any) -> Any:
    allowed = set(values)

    def check(_form: Any, field: Any) -> None:
        if field.data not in allowed:
            raise StopValidation(str(message))

    return check


COUNTRY_CHOICES: list[Any] = [SelectChoice("MX", _l("Mexico")), SelectChoice("AR", _l("Argentina"))]
NAME_VALIDATORS = [
    DataRequired(_l("Enter the organization's name.")),
    Length(min=2, max=200, message=_l("Enter the organization's name (2 to 200 characters).")),
]


def role_choices(roles: list[str]) -> list[Any]:
    """Options of a role select, in words."""
    return [SelectChoice(role, role_label(role)) for role in roles]


class NewOrgForm(Form):
    """Create an organization: its name, kind, country and tax ID."""

    name = StringField(_l("Name of the organization"), validators=NAME_VALIDATORS, filters=[_strip])
    kind = RadioField(
        _l("Kind of organization"),
        choices=[SelectChoice(kind, label) for kind, label in ORG_KIND_LABELS.items()],
        validators=[_one_of(ORG_KIND_LABELS, _l("Choose what kind of organization it is."))],
        validate_choice=False,
    )
    country = SelectField(
        _l("Country"),
        choices=COUNTRY_CHOICES,
        default="MX",
        validators=[_one_of(("MX", "AR"), _l("Choose the country: Mexico or Argentina."))],
        validate_choice=False,
    )
    tax_id = StringField(
        _l("Tax ID (RFC or CUIT)"),
        validators=[DataRequired(_l("Enter the organization's tax ID.")), Length(max=MAX_INPUT)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class InviteForm(Form):
    """Invite someone by email with a role (the choices depend on the inviter's role)."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter the email address to invite.")), Length(max=320), _email_shape],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    role = SelectField(_l("Role"), choices=[], default="agent", validate_choice=False)


class RoleForm(Form):
    """Give a member another role."""

    role = SelectField(_l("Role"), choices=[], validate_choice=False)


class RemoveForm(Form):
    """Remove a member, handing their assigned clients to another member (or to nobody)."""

    reassign_to = SelectField(_l("Their assigned clients go to"), choices=[], default="", validate_choice=False)


class SettingsForm(Form):
    """The organization's name and whether agents see every client."""

    name = StringField(_l("Name of the organization"), validators=NAME_VALIDATORS, filters=[_strip])
    agents_see_all = BooleanField(_l("Agents see every client"))
