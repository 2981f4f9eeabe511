"""The password rules of DESIGN §7, one by one, as the form and the live check apply them."""

from __future__ import annotations

import pytest
from flask import Flask

from aggregator.services.passwords import check_password, hash_password, verify_password

GOOD = "Mango#Verde2026!"


def broken(password: str, email: str = "ana@example.com") -> set[str]:
    return {r.code for r in check_password(password, email, portal_name="Coberta") if not r.ok}


def test_a_strong_password_keeps_every_rule() -> None:
    assert broken(GOOD) == set()


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Mango#Ver20!", set()),  # exactly 12 characters
        ("Mang#Ver20!", {"length"}),  # 11
        ("MANGO#VERDE2026!", {"lower"}),
        ("MAnGO#VERDE2026!", {"lower"}),  # only 1 lower-case
        ("mango#verde2026!", {"upper"}),
        ("Mango#Verde!!?!", {"digit"}),
        ("MangoVerde20261", {"special"}),
        ("Mangooo#Verde20!", set()),  # 3 in a row is allowed
        ("Mangoooo#Verde20!", {"repeat"}),  # 4 is not
        ("Mango#Verde2023!", set()),  # 2023 has no ascending run of 3
        ("Mango#Verde1234!", {"sequence"}),
        ("Mango#Vabcde20!", {"sequence"}),
        ("Mango#VXYZe20!", {"sequence"}),  # case does not hide a run
        ("Ana.Mango#2026!", {"personal"}),  # the email's local part
        ("Mi#Coberta2026!x", {"personal"}),  # the portal's name, any case
        ("Miz#COBERTA2026!qw", {"personal"}),
    ],
)
def test_each_rule(password: str, rule: set[str]) -> None:
    assert broken(password) == rule


def test_long_passwords_are_accepted_up_to_128_and_never_truncated(app: Flask) -> None:
    long_ok = ("Mango#Verde2026!" * 8)[:128]
    assert len(long_ok) == 128 and broken(long_ok) == set()
    assert "max_length" in broken(long_ok + "x")
    with app.app_context():
        stored = hash_password(long_ok)
        assert verify_password(stored, long_ok)
        # A password that only differs after character 72 (bcrypt's limit) must not match.
        assert not verify_password(stored, long_ok[:-1] + "?")


def test_hashes_are_argon2id(app: Flask) -> None:
    with app.app_context():
        assert hash_password(GOOD).startswith("$argon2id$")
        assert not verify_password(None, GOOD)
