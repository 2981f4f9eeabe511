"""Tax and identity numbers: normalisation, validation with specific messages, country and kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask_babel import Babel, force_locale
from stdnum.ar import cuit as ar_cuit
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

from aggregator.services import taxids
from aggregator.services.taxids import TaxIdInvalid
from connectors.models import PartyKind, TaxId, TaxIdType

# Known valid examples, checked against python-stdnum below.
RFC_PERSON = "GODE561231GR8"
RFC_COMPANY = "MAB9307148T4"
CURP = "BOXW310820HNERXN09"
CUIT_PERSON = "20267565393"
CUIT_COMPANY = "30500010912"
DNI = "20123456"


@pytest.fixture(autouse=True)
def babel_context() -> Iterator[None]:
    """Messages are lazy strings: render them inside a request, in English."""
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context(), force_locale("en"):
        yield


def test_the_examples_are_valid_for_stdnum() -> None:
    assert mx_rfc.is_valid(RFC_PERSON) and mx_rfc.calc_check_digit(RFC_PERSON[:-1]) == RFC_PERSON[-1]
    assert mx_rfc.is_valid(RFC_COMPANY) and mx_rfc.calc_check_digit(RFC_COMPANY[:-1]) == RFC_COMPANY[-1]
    assert mx_curp.is_valid(CURP)
    assert ar_cuit.is_valid(CUIT_PERSON) and ar_cuit.is_valid(CUIT_COMPANY)


@pytest.mark.parametrize(
    ("id_type", "typed", "normalised"),
    [
        ("RFC", RFC_PERSON, RFC_PERSON),
        ("rfc", "gode-561231-gr8", RFC_PERSON),
        ("RFC", " MAB 930714 8T4 ", RFC_COMPANY),
        ("CURP", CURP.lower(), CURP),
        ("CUIT", "20-26756539-3", CUIT_PERSON),
        ("CUIL", "20.26756539.3", CUIT_PERSON),
        ("CUIT", CUIT_COMPANY, CUIT_COMPANY),
        ("DNI", "20.123.456", DNI),
        ("DNI", "1234567", "1234567"),
    ],
)
def test_valid_numbers_are_normalised(id_type: str, typed: str, normalised: str) -> None:
    tax_id = taxids.validate(id_type, typed)
    assert tax_id == TaxId(TaxIdType(id_type.upper()), normalised)


@pytest.mark.parametrize(
    ("id_type", "typed", "code", "message"),
    [
        ("RFC", "GODE561231GR9", "checksum", "The check digit does not match: check the number."),
        ("RFC", "GODE561231", "length", "An RFC has 12 characters for a company or 13 for a person."),
        ("RFC", "GODE561231GR8X", "length", "An RFC has 12 characters for a company or 13 for a person."),
        ("RFC", "G0DE561231GR8", "format", "An RFC is 3 letters (company) or 4 letters (person)"),
        ("RFC", "GODE561331GR8", "component", "The date or the code inside the RFC is not valid"),
        ("CURP", "BOXW310820HNERXN08", "checksum", "The check digit does not match: check the number."),
        ("CURP", "BOXW310820HNERXN0", "length", "A CURP has 18 characters."),
        ("CURP", "BOXW3108201NERXN09", "format", "A CURP is 4 letters"),
        ("CURP", "BOXW310820HZZRXN09", "component", "inside the CURP is not valid"),
        ("CUIT", "20-26756539-4", "checksum", "The check digit does not match: check the number."),
        ("CUIT", "2026756539", "length", "A CUIT has 11 digits."),
        ("CUIT", "2026756539A", "format", "A CUIT has digits only."),
        ("CUIT", "99267565393", "component", "A CUIT starts with 20, 23, 24, 27, 30, 33 or 34."),
        ("CUIL", CUIT_COMPANY, "component", "A CUIL starts with 20, 23, 24 or 27."),
        ("CUIL", "2026756539", "length", "A CUIL has 11 digits."),
        ("DNI", "123456", "length", "A DNI has 7 or 8 digits."),
        ("DNI", "123456789", "length", "A DNI has 7 or 8 digits."),
        ("DNI", "12A45678", "format", "A DNI has digits only."),
        ("DNI", "  - . ", "empty", "Enter the ID number."),
        ("PASSPORT", "X1234567", "type", "Choose the type of ID"),
        ("RFC", "A" * 41, "length", "An RFC has 12 characters"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(id_type: str, typed: str, code: str, message: str) -> None:
    with pytest.raises(TaxIdInvalid) as caught:
        taxids.validate(id_type, typed)
    assert caught.value.code == code
    assert caught.value.message.startswith(message) or message in caught.value.message
    assert typed.strip() not in caught.value.message or not typed.strip()  # the message never echoes the number


def test_messages_are_translated() -> None:
    with force_locale("es"):
        text = TaxIdInvalid("RFC", "checksum").message
    assert isinstance(text, str) and text


def test_country_and_kind() -> None:
    assert [taxids.country_for(t) for t in ("RFC", "CURP", "CUIT", "CUIL", "DNI")] == ["MX", "MX", "AR", "AR", "AR"]
    assert taxids.country_for(TaxIdType.CURP) == "MX"
    assert taxids.kind_for(taxids.validate("RFC", RFC_PERSON)) is PartyKind.PERSON
    assert taxids.kind_for(taxids.validate("RFC", RFC_COMPANY)) is PartyKind.COMPANY
    assert taxids.kind_for(taxids.validate("CUIT", CUIT_COMPANY)) is PartyKind.COMPANY
    assert taxids.kind_for(taxids.validate("CUIT", CUIT_PERSON)) is PartyKind.PERSON
    assert taxids.kind_for(taxids.validate("CUIL", CUIT_PERSON)) is PartyKind.PERSON
    assert taxids.kind_for(taxids.validate("CURP", CURP)) is PartyKind.PERSON
    assert taxids.kind_for(taxids.validate("DNI", DNI)) is PartyKind.PERSON


def test_every_sandbox_person_and_company_validates() -> None:
    """The fictional population the sandboxes share carries only valid numbers: none is refused here."""
    from connectors.sandbox.people import population

    people = population()
    checked = 0
    for group in (people.mexicans, people.argentines, people.mexican_companies, people.argentine_companies):
        for party in group:
            for id_type, attr in (("RFC", "rfc"), ("CURP", "curp"), ("CUIT", "cuit"), ("CUIL", "cuil"), ("DNI", "dni")):
                value = getattr(party, attr, None)
                if value:
                    assert taxids.validate(id_type, value).number == value
                    checked += 1
    assert checked > 100
