"""Tax and identity numbers of client profiles: validation with python-stdnum, country and kind.

Every error names what is wrong with the number as typed (length, format, check digit) in the
user's language. The checks are pure arithmetic on the text: they say nothing about whether
anybody holds that number.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from stdnum.ar import cuit as ar_cuit
from stdnum.ar import dni as ar_dni
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

from connectors.models import PartyKind, TaxId, TaxIdType

__all__ = ["COUNTRIES", "TYPES", "TaxIdInvalid", "country_for", "kind_for", "normalise", "validate"]

TYPES: tuple[str, ...] = tuple(t.value for t in TaxIdType)  # RFC, CURP, CUIT, CUIL, DNI
COUNTRIES: dict[str, str] = {"RFC": "MX", "CURP": "MX", "CUIT": "AR", "CUIL": "AR", "DNI": "AR"}
COMPANY_CUIT_PREFIXES = frozenset({"30", "33", "34"})
PERSON_CUIT_PREFIXES = frozenset({"20", "23", "24", "27"})
MAX_INPUT = 40  # longer input is refused before any parsing

_SEPARATORS = re.compile(r"[\s.\-/]")

MESSAGES: dict[tuple[str, str], Any] = {
    ("*", "empty"): _l("Enter the ID number."),
    ("*", "type"): _l("Choose the type of ID: RFC, CURP, CUIT, CUIL or DNI."),
    ("*", "checksum"): _l("The check digit does not match: check the number."),
    ("RFC", "length"): _l("An RFC has 12 characters for a company or 13 for a person."),
    ("RFC", "format"): _l(
        "An RFC is 3 letters (company) or 4 letters (person), a date written YYMMDD and a 3-character code."
    ),
    ("RFC", "component"): _l("The date or the code inside the RFC is not valid: check the number."),
    ("CURP", "length"): _l("A CURP has 18 characters."),
    ("CURP", "format"): _l("A CURP is 4 letters, the birth date written YYMMDD, 6 letters and 2 characters."),
    ("CURP", "component"): _l("The birth date, sex or state inside the CURP is not valid: check the number."),
    ("CUIT", "length"): _l("A CUIT has 11 digits."),
    ("CUIT", "format"): _l("A CUIT has digits only."),
    ("CUIT", "component"): _l("A CUIT starts with 20, 23, 24, 27, 30, 33 or 34."),
    ("CUIL", "length"): _l("A CUIL has 11 digits."),
    ("CUIL", "format"): _l("A CUIL has digits only."),
    ("CUIL", "component"): _l("A CUIL starts with 20, 23, 24 or 27."),
    ("DNI", "length"): _l("A DNI has 7 or 8 digits."),
    ("DNI", "format"): _l("A DNI has digits only."),
}


class TaxIdInvalid(ValueError):
    """A tax ID that cannot be right as typed; ``message`` says why, ``code`` is machine-readable."""

    def __init__(self, id_type: str, code: str) -> None:
        super().__init__(f"{id_type or '?'}: {code}")
        self.id_type = id_type
        self.code = code  # empty | type | length | format | component | checksum

    @property
    def message(self) -> str:
        """The explanation in the user's language."""
        text = MESSAGES.get((self.id_type, self.code)) or MESSAGES.get(("*", self.code)) or MESSAGES[("*", "type")]
        return str(text)


def normalise(number: str) -> str:
    """Upper case, without spaces, dots, dashes or slashes."""
    return _SEPARATORS.sub("", number or "").upper()


def _rfc(number: str) -> str:
    if len(number) not in (12, 13):  # a 10-character RFC lacks its code: it cannot prove anything
        raise TaxIdInvalid("RFC", "length")
    try:
        mx_rfc.validate(number)
    except InvalidLength:
        raise TaxIdInvalid("RFC", "length") from None
    except InvalidFormat:
        raise TaxIdInvalid("RFC", "format") from None
    except ValidationError:
        raise TaxIdInvalid("RFC", "component") from None
    try:
        expected = mx_rfc.calc_check_digit(number[:-1])
    except (KeyError, ValueError, IndexError):
        raise TaxIdInvalid("RFC", "format") from None
    if number[-1] != expected:
        raise TaxIdInvalid("RFC", "checksum")
    return number


def _curp(number: str) -> str:
    try:
        return str(mx_curp.validate(number))
    except InvalidLength:
        raise TaxIdInvalid("CURP", "length") from None
    except InvalidFormat:
        raise TaxIdInvalid("CURP", "format") from None
    except InvalidChecksum:
        raise TaxIdInvalid("CURP", "checksum") from None
    except ValidationError:
        raise TaxIdInvalid("CURP", "component") from None


def _cuit(number: str, id_type: str) -> str:
    if not number.isdigit():
        raise TaxIdInvalid(id_type, "format")
    if len(number) != 11:
        raise TaxIdInvalid(id_type, "length")
    allowed = PERSON_CUIT_PREFIXES if id_type == "CUIL" else PERSON_CUIT_PREFIXES | COMPANY_CUIT_PREFIXES
    if number[:2] not in allowed:
        raise TaxIdInvalid(id_type, "component")
    try:
        return str(ar_cuit.validate(number))
    except InvalidChecksum:
        raise TaxIdInvalid(id_type, "checksum") from None
    except InvalidComponent:
        raise TaxIdInvalid(id_type, "component") from None
    except ValidationError:
        raise TaxIdInvalid(id_type, "format") from None


def _dni(number: str) -> str:
    if not number.isdigit():
        raise TaxIdInvalid("DNI", "format")
    try:
        return str(ar_dni.validate(number))
    except InvalidLength:
        raise TaxIdInvalid("DNI", "length") from None
    except ValidationError:
        raise TaxIdInvalid("DNI", "format") from None


def validate(id_type: str, number: str) -> TaxId:
    """The normalised ``TaxId``; raises ``TaxIdInvalid`` with a specific message when it cannot be right."""
    kind = (id_type or "").strip().upper()
    if kind not in TYPES:
        raise TaxIdInvalid(kind, "type")
    if len(number or "") > MAX_INPUT:
        raise TaxIdInvalid(kind, "length")
    cleaned = normalise(number)
    if not cleaned:
        raise TaxIdInvalid(kind, "empty")
    if kind == "RFC":
        value = _rfc(cleaned)
    elif kind == "CURP":
        value = _curp(cleaned)
    elif kind in ("CUIT", "CUIL"):
        value = _cuit(cleaned, kind)
    else:
        value = _dni(cleaned)
    return TaxId(TaxIdType(kind), value)


def country_for(id_type: str | TaxIdType) -> str:
    """ISO country of an ID type: RFC and CURP are Mexican, CUIT, CUIL and DNI Argentine."""
    return COUNTRIES[TaxIdType(id_type).value]


def kind_for(tax_id: TaxId) -> PartyKind:
    """Company for a 12-character RFC or a CUIT starting 30, 33 or 34; a person otherwise."""
    if tax_id.type is TaxIdType.RFC and len(tax_id.number) == 12:
        return PartyKind.COMPANY
    if tax_id.type is TaxIdType.CUIT and tax_id.number[:2] in COMPANY_CUIT_PREFIXES:
        return PartyKind.COMPANY
    return PartyKind.PERSON
