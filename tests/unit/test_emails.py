"""Email normalisation: one account per mailbox, and no Unicode look-alike reaches another account."""

from __future__ import annotations

import contextlib

import pytest

from aggregator.services.emails import InvalidEmail, normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ana@Example.COM ", "ana@example.com"),
        ("Ana.Ruiz+seguros@Example.com", "ana.ruiz+seguros@example.com"),
        ("ａｎａ@example.com", "ana@example.com"),  # full-width letters: NFKC
        ("José.Pérez@Correo.MX", "josé.pérez@correo.mx"),
    ],
)
def test_normalisation(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("lookalike", ["mıke@x.com", "MİKE@x.com", "mike\u200b@x.com"])
def test_lookalikes_never_become_mike(lookalike: str) -> None:
    with contextlib.suppress(InvalidEmail):  # refusing it is fine too
        assert normalize_email(lookalike) != "mike@x.com"


@pytest.mark.parametrize("raw", ["", "ana", "ana@", "@example.com", "ana@example", "a b@example.com", "ana@@x.com"])
def test_invalid_addresses(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(raw)
