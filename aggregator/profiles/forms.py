"""Forms of the client profile pages."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from aggregator.forms import Form
from aggregator.services.taxids import MAX_INPUT

_ID_TYPES = [
    ("RFC", _l("RFC (Mexico)")),
    ("CURP", _l("CURP (Mexico)")),
    ("CUIT", _l("CUIT (Argentina)")),
    ("CUIL", _l("CUIL (Argentina)")),
    ("DNI", _l("DNI (Argentina)")),
]
try:  # WTForms 3.3+ declares options as SelectChoice; older releases take (value, label) pairs.
    from wtforms.fields.choices import SelectChoice

    ID_TYPE_CHOICES: list[Any] = [SelectChoice(value, label) for value, label in _ID_TYPES]
except ImportError:  # pragma: no cover - WTForms < 3.3
    ID_TYPE_CHOICES = list(_ID_TYPES)


class LinkForm(Form):
    """Link a client profile with its ID number and the number of one of its active policies."""

    id_type = SelectField(_l("Type of ID"), choices=ID_TYPE_CHOICES, default="RFC")
    id_number = StringField(
        _l("ID number"),
        validators=[DataRequired(_l("Enter the ID number.")), Length(max=MAX_INPUT)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    policy_number = StringField(
        _l("Number of an active policy"),
        validators=[DataRequired(_l("Enter the number of one of its active policies.")), Length(max=40)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
