"""The demo portal's page: the visitor's language, roles by the configuration's labels, claims as readable JSON."""

import html
from pathlib import Path

import pytest

from demo.portal import create_portal, readable_json, role_labels

ROOT = Path(__file__).resolve().parents[2]
COMPANY = {"id": "400108", "name": "Électricité Durand", "role": "order_for_approval", "admin": True,
           "branch": "Montréal"}
CLAIMS = {"sub": "abc", "sid": "s-1", "name": "Léa Dubois", "email": "lea@example.com",
          "company_name": "Électricité Durand", "company_role": "order_for_approval"}
USERINFO = {"sub": "abc", "companies": [COMPANY, {**COMPANY, "id": "1", "name": "Beta", "role": "emperor",
                                                  "admin": False, "branch": None}]}


@pytest.fixture
def portal():
    # No request reaches the provider: the page of a signed-in visitor is drawn from the session.
    app = create_portal("shop", issuer="http://127.0.0.1:9", ports={"shop": 1, "pricing": 2},
                        roles=role_labels(ROOT / "config" / "demo.yaml"))
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"], session["userinfo"] = CLAIMS, USERINFO
    return client


@pytest.mark.parametrize(("accept", "lang", "signed_in", "company"), [
    ("en-GB,en;q=0.9", "en", "Signed in as <strong>Léa Dubois</strong> for Électricité Durand "
     "(Place an order for approval).", "Électricité Durand: Place an order for approval, administrator · Montréal"),
    ("fr-FR,fr;q=0.9", "fr", "Connecté en tant que <strong>Léa Dubois</strong> pour Électricité Durand "
     "(Placer une commande pour approbation).",
     "Électricité Durand: Placer une commande pour approbation, administrateur · Montréal"),
], ids=["en", "fr"])
def test_the_page_speaks_the_browsers_language_and_names_roles_by_their_labels(portal, accept, lang, signed_in,
                                                                                 company):
    page = portal.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert signed_in in " ".join(page.split())
    assert company in page
    assert "Beta: emperor" in page  # a role the configuration does not name: its code, as received


def test_lang_in_the_address_wins_and_is_remembered(portal):
    assert '<html lang="en">' in portal.get("/?lang=en", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in portal.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr">' in portal.get("/?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in portal.get("/?lang=de").get_data(as_text=True)  # unknown: ignored


def test_claims_are_shown_as_readable_json(portal):
    page = html.unescape(portal.get("/").get_data(as_text=True))
    assert "\\u00" not in page
    assert '\n  "company_name": "Électricité Durand",\n' in page  # indented, in plain Unicode
    assert readable_json({"b": "É", "a": 1}) == '{\n  "a": 1,\n  "b": "É"\n}'


def test_role_labels_are_read_from_the_configuration(tmp_path):
    labels = role_labels(ROOT / "config" / "demo.yaml")
    assert labels["order_for_approval"] == {"en": "Place an order for approval",
                                            "fr": "Placer une commande pour approbation"}
    assert role_labels(tmp_path / "missing.yaml") == {}
