"""Addresses: kept as typed (NFC, domain lower-cased) for mail; lower-cased only as the account's key."""

import unicodedata

import pytest

from idp.models.users import email_key, login_key, normalize_email

NFD = unicodedata.normalize("NFD", "Jürgen")


@pytest.mark.parametrize(("typed", "stored", "key"), [
    ("Jürgen.Straße@Example.COM", "Jürgen.Straße@example.com", "jürgen.straße@example.com"),
    ("  Ana@example.com ", "Ana@example.com", "ana@example.com"),
    (f"{NFD}@example.com", "Jürgen@example.com", "jürgen@example.com"),
    ("ZOE@BÜCHER.example", "ZOE@bücher.example", "zoe@bücher.example"),
    ("a@b@Example.com", "a@b@example.com", "a@b@example.com"),
    ("no-at-sign", "no-at-sign", "no-at-sign"),
], ids=["sharp-s-kept", "trimmed", "nfd-composed", "idn-domain", "last-at-sign", "no-at-sign"])
def test_the_address_keeps_its_local_part_and_the_key_lower_cases_it(typed, stored, key):
    assert normalize_email(typed) == stored
    assert email_key(typed) == key


def test_case_folding_would_name_another_mailbox():
    """The defect: casefold() turns ß into ss, so two people's addresses shared one key."""
    assert email_key("Jürgen.Straße@example.com") != email_key("jurgen.strasse@example.com")
    assert email_key("Juergen.Straße@example.com") != email_key("juergen.strasse@example.com")
    assert email_key("ANA@EXAMPLE.COM") == email_key("ana@example.com")


@pytest.mark.parametrize(("login", "key"), [
    ("Ana@Example.com", "ana@example.com"),
    ("  AnaL ", "anal"),
    ("Straße", "strasse"),
], ids=["address", "username", "username-folded"])
def test_login_key(login, key):
    assert login_key(login) == key
