"""Account requests (document 001): the public form, the operator's decision, accounts and their emails."""

import pytest
from markupsafe import escape
from sqlalchemy import select

from idp.extensions import db
from idp.models import AccountRequest, Membership, User
from tests.factories import PASSWORD, make_company, make_user
from tests.integration.companies.helpers import COMPANY_FLOWS, browser, company_config, path_of
from tests.integration.flows.mailbox import mail_to

FLOWS = [*COMPANY_FLOWS, "account_request"]
PATH = "/companies/account-request"


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp, flows=FLOWS)


def form_data(**overrides):
    data = {
        "customer_number": "C-10001", "company_name": "Durand SARL", "address": "1 rue de la Paix",
        "city": "Lyon", "postal_code": "69001", "phone": "+33 4 00 00 00 00",
        "contact_given_name": "Claire", "contact_family_name": "Durand", "contact_email": "claire@durand.example",
        "people-0-given_name": "Claire", "people-0-family_name": "Durand",
        "people-0-email": "Claire@Durand.example", "people-0-role": "order",
        "people-1-given_name": "Hugo", "people-1-family_name": "Petit",
        "people-1-email": "hugo@durand.example", "people-1-role": "prices_only",
        "terms": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit(actions, **overrides):
    return actions.submit(PATH, form_data(**overrides), form_path=PATH + "?people=2")


def requests_filed():
    db.session.expire_all()
    return list(db.session.scalars(select(AccountRequest)))


def test_the_form_shows_one_block_per_person(app):
    page = browser(app).client.get(PATH + "?people=3").get_data(as_text=True)
    assert 'name="people-2-email"' in page and 'name="people-3-email"' not in page
    assert "Place an order for approval" in page


@pytest.mark.parametrize(("people", "blocks"), [("²", 1), ("9" * 5000, 20), ("", 1), ("-3", 1), ("999", 20)])
def test_an_odd_number_of_people_still_shows_the_form(app, people, blocks):
    page = browser(app).client.get(PATH, query_string={"people": people})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'name="people-{blocks - 1}-email"' in text and f'name="people-{blocks}-email"' not in text


def test_an_operator_approves_and_everyone_gets_their_password_email(app, smtp):
    company = make_company("C-10001", name="Durand SARL")
    visitor = browser(app)
    response = submit(visitor)
    assert response.status_code == 200 and "Our team will review your request" in response.get_data(as_text=True)
    [filed] = requests_filed()
    assert filed.status == "pending" and [p["email"] for p in filed.people] == [
        "Claire@durand.example", "hugo@durand.example"]  # as typed, the domain lower-cased

    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    olivia.login("olivia@example.com", PASSWORD)
    listing = olivia.client.get("/admin/operator/account-requests").get_data(as_text=True)
    assert "Durand SARL" in listing
    page = f"/admin/operator/account-requests/{filed.public_id}"
    assert "hugo@durand.example" in olivia.client.get(page).get_data(as_text=True)
    olivia.submit(page + "/approve", {}, form_path=page)

    db.session.expire_all()
    claire = User.find_by_email("claire@durand.example")
    hugo = User.find_by_email("hugo@durand.example")
    roles = {m.user_id: (m.role, m.is_admin) for m in db.session.scalars(
        select(Membership).where(Membership.company_id == company.id))}
    assert roles == {claire.id: ("order", True), hugo.id: ("prices_only", False)}

    [setup] = mail_to(smtp, "hugo@durand.example")
    assert "Your username: hugo@durand.example" in smtp.text(setup)
    link = next(x for x in smtp.links(setup) if "/password/reset/" in x)
    new = "Quiet-River-Stone-91"
    response = browser(app).submit(path_of(link), {"password": new, "password_confirm": new})
    assert response.status_code == 302
    assert browser(app).login("hugo@durand.example", new).status_code == 302
    # Approving twice creates nothing more.
    again = olivia.submit(page + "/approve", {}, form_path=page)
    assert "already decided" in olivia.client.get(again.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("config_overrides", [
    company_config(None, flows=FLOWS, companies={"auto_approve_account_requests": True})], ids=["auto"])
def test_the_configuration_can_approve_at_once(app):
    make_company("C-10001")
    response = submit(browser(app))
    assert "The accounts were created." in response.get_data(as_text=True)
    assert [r.status for r in requests_filed()] == ["approved"]
    assert User.find_by_email("hugo@durand.example") is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"customer_number": "C-99999"}, "No active customer account has this customer number."),
        ({"terms": None}, "You must accept the terms of use."),
        ({"people-1-email": "not-an-address"}, "User 2: the email address is not valid."),
        ({"people-1-email": "claire@durand.example"}, "User 2: this email address is given twice."),
        ({"people-1-role": "emperor"}, "User 2: choose what this user is authorized to do."),
        ({"contact_email": "nope"}, "The key contact's email address is not valid."),
        ({"city": ""}, "City: this field is required."),
    ],
    ids=["unknown-customer", "no-terms", "bad-email", "twice", "bad-role", "bad-contact", "missing-field"],
)
def test_bad_requests_are_refused_with_a_reason(app, overrides, message):
    make_company("C-10001")
    response = submit(browser(app), **overrides)
    assert response.status_code == 400 and str(escape(message)) in response.get_data(as_text=True)
    assert requests_filed() == []


def test_inactive_customers_cannot_ask(app):
    make_company("C-10001", active=False)
    response = submit(browser(app))
    assert response.status_code == 400
    assert requests_filed() == []


def test_rejection_is_told_to_the_key_contact(app, smtp):
    make_company("C-10001")
    submit(browser(app))
    [filed] = requests_filed()
    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    olivia.login("olivia@example.com", PASSWORD)
    page = f"/admin/operator/account-requests/{filed.public_id}"
    olivia.submit(page + "/reject", {"reason": "Not a customer of ours"}, form_path=page)
    [message] = mail_to(smtp, "claire@durand.example")
    assert message["Subject"] == "Your request for web accounts was declined"
    assert "Not a customer of ours" in smtp.text(message)
    assert User.find_by_email("hugo@durand.example") is None


def test_a_person_with_an_account_gets_the_membership_and_is_told(app, smtp):
    company = make_company("C-10001", name="Durand SARL")
    hugo = make_user("hugo@durand.example", locale="en")
    submit(browser(app))
    [filed] = requests_filed()
    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    olivia.login("olivia@example.com", PASSWORD)
    page = f"/admin/operator/account-requests/{filed.public_id}"
    response = olivia.submit(page + "/approve", {}, form_path=page)
    assert "1 account created" in olivia.client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    [membership] = db.session.scalars(select(Membership).where(Membership.user_id == hugo.id)).all()
    assert (membership.company_id, membership.role) == (company.id, "prices_only")
    [told] = mail_to(smtp, "hugo@durand.example")
    assert told["Subject"] == "Your access to Durand SARL was approved"
