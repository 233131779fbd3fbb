"""Joining a company through /companies/join, access requests, reminders, the admin's decision by email."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.models import AccessRequest
from idp.models.base import utcnow
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import (
    access_requests,
    at_once,
    authorize,
    browser,
    company_config,
    events,
    id_token,
    join,
    memberships,
    path_of,
    person,
    tokens,
    walk,
)
from tests.integration.flows.mailbox import deliver, mail_to

CODE = "CODE-1234"
MISMATCH = "This company identifier and member code do not match."


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


def test_first_user_becomes_admin(app, client, actions):
    company = make_company("C-10001", name="Durand SARL")
    user, ana = person(app, "ana@example.com")
    response = join(ana, " C-10001 ", CODE)
    assert response.status_code == 302 and response.headers["Location"] == "/tools"
    [membership] = memberships(company)
    assert (membership.user_id, membership.is_admin, membership.status, membership.role) == (
        user.id, True, "active", "order")
    page = ana.client.get("/tools").get_data(as_text=True)
    assert "You are now the administrator of Durand SARL." in page
    assert "Acting for Durand SARL as: Place an order" in page
    assert events("membership.created") == ["membership.created"]


def test_second_user_is_approved_by_the_admin_through_the_emails(app, smtp):
    company = make_company("C-10001", name="Durand SARL")
    admin, claire = person(app, "claire@example.com", given_name="Claire", family_name="Durand")
    make_membership(admin, company, is_admin=True)
    other_admin = make_user("paul@example.com", locale="fr")
    make_membership(other_admin, company, is_admin=True)
    requester, hugo = person(app, "hugo@example.com", given_name="Hugo", family_name="Petit")

    response = join(hugo, "C-10001", CODE)
    assert response.status_code == 302 and response.headers["Location"] == "/companies/requests"
    page = hugo.client.get("/companies/requests").get_data(as_text=True)
    assert "Durand SARL" in page and "Your access request was sent" in page
    # Without an active membership, the list of tools sends the person to their pending requests.
    assert hugo.client.get("/tools").headers["Location"] == "/companies/requests"

    [to_claire] = mail_to(smtp, "claire@example.com")
    assert to_claire["Subject"] == "Hugo Petit asks for access to Durand SARL"
    # Every admin is asked (each in their language once the French catalogue is merged).
    assert len(smtp.to("paul@example.com")) == 1
    [link] = [x for x in smtp.links(to_claire) if "/admin/companies/" in x]
    assert link in smtp.html(to_claire)

    decision = claire.client.get(path_of(link))
    assert decision.status_code == 200 and "hugo@example.com" in decision.get_data(as_text=True)
    response = claire.submit(path_of(link) + "/approve", {"role": "prices_only", "branch": "Lyon"},
                             form_path=path_of(link))
    assert response.status_code == 302
    membership = next(m for m in memberships(company) if m.user_id == requester.id)
    assert (membership.role, membership.branch, membership.is_admin, membership.status) == (
        "prices_only", "Lyon", False, "active")

    [approved] = mail_to(smtp, "hugo@example.com")
    assert approved["Subject"] == "Your access to Durand SARL was approved"
    assert "Your role: See prices only" in smtp.text(approved)
    page = hugo.client.get("/tools").get_data(as_text=True)
    assert "Acting for Durand SARL as: See prices only" in page
    assert "https://prices.example.com/" in page and "https://shop.example.com/" not in page
    assert events("access_request.filed", "access_request.approved") == [
        "access_request.filed", "access_request.approved"]


def test_rejection_with_a_reason_is_told_by_email(app, smtp):
    company = make_company("C-10001", name="Durand SARL")
    admin, claire = person(app, "claire@example.com")
    make_membership(admin, company, is_admin=True)
    _, hugo = person(app, "hugo@example.com")
    join(hugo, "C-10001", CODE)
    [request] = access_requests(company)
    base = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    response = claire.submit(base + "/reject", {"reason": "Unknown to us"}, form_path=base)
    assert response.status_code == 302
    [rejected] = mail_to(smtp, "hugo@example.com")
    assert rejected["Subject"] == "Your access request to Durand SARL was declined"
    assert "Their reason: Unknown to us" in smtp.text(rejected)
    assert [r.status for r in access_requests(company)] == ["rejected"]
    assert len(memberships(company)) == 1
    # Decided: a second decision is refused with a clear page.
    again = claire.submit(base + "/approve", {"role": "order"}, form_path=base)
    assert again.status_code == 409 and "already decided" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("company_id", "code", "message"),
    [("C-10001", "WRONG", MISMATCH), ("C-99999", "CODE-1234", MISMATCH),
     ("", "CODE-1234", "Company identifier: this field is required."),
     ("C-10001", "", "Member code: this field is required."),
     ("x" * 65, "c", "Company identifier: at most 64 characters.")],
    ids=["wrong-code", "unknown-company", "no-identifier", "no-code", "too-long"],
)
def test_bad_identifiers_and_codes(app, company_id, code, message):
    company = make_company("C-10001")
    _, ana = person(app, "ana@example.com")
    response = join(ana, company_id, code)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert memberships(company) == [] and access_requests(company) == []


def test_inactive_customers_cannot_be_joined(app):
    company = make_company("C-10001", active=False)
    _, ana = person(app, "ana@example.com")
    response = join(ana, "C-10001", CODE)
    assert response.status_code == 409
    assert "This customer account is not active" in response.get_data(as_text=True)
    assert memberships(company) == []


@pytest.mark.parametrize("config_overrides", [company_config(companies={"identifier_kind": "siren"})],
                         ids=["siren"])
def test_siren_identifiers_are_validated_and_compacted(app):
    company = make_company("732829320")
    _, ana = person(app, "ana@example.com")
    assert join(ana, "732829321", CODE).status_code == 400  # bad check digit
    assert join(ana, "732 829 320", CODE).status_code == 302
    assert len(memberships(company)) == 1


@pytest.mark.parametrize("config_overrides", [company_config(throttling={"company_join_per_user": "3 per hour"})],
                         ids=["three-per-hour"])
def test_member_code_attempts_are_throttled(app):
    company = make_company("C-10001")
    _, ana = person(app, "ana@example.com")
    assert [join(ana, "C-10001", f"GUESS-{n}").status_code for n in range(3)] == [400, 400, 400]
    # Throttled, even the right code gets the wrong code's answer (idp.security.throttling).
    blocked = join(ana, "C-10001", CODE)
    assert blocked.status_code == 400 and MISMATCH in blocked.get_data(as_text=True)
    assert memberships(company) == []
    # Another person is not blocked by Ana's guesses.
    _, ben = person(app, "ben@example.com")
    assert join(ben, "C-10001", CODE).status_code == 302


def test_joining_needs_a_session(client):
    response = client.get("/companies/join")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_reminders_are_limited_to_one_a_day(app, smtp):
    company = make_company("C-10001", name="Durand SARL")
    admin, _ = person(app, "claire@example.com")
    make_membership(admin, company, is_admin=True)
    _, hugo = person(app, "hugo@example.com")
    join(hugo, "C-10001", CODE)
    assert len(mail_to(smtp, "claire@example.com")) == 1
    [request] = access_requests(company)
    remind = f"/companies/requests/{request.public_id}/remind"

    response = hugo.submit(remind, {}, form_path="/companies/requests")
    assert "You can remind the administrators once a day." in hugo.client.get(
        response.headers["Location"]).get_data(as_text=True)
    assert len(mail_to(smtp, "claire@example.com")) == 1

    db.session.execute(update(AccessRequest).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    hugo.submit(remind, {}, form_path="/companies/requests")
    reminders = mail_to(smtp, "claire@example.com")
    assert len(reminders) == 2
    assert reminders[-1]["Subject"].startswith("Reminder: ")
    hugo.submit(remind, {}, form_path="/companies/requests")
    assert len(mail_to(smtp, "claire@example.com")) == 2
    assert events("access_request.reminded") == ["access_request.reminded"]


def test_withdraw_and_nobody_elses_request(app):
    company = make_company("C-10001")
    admin, _ = person(app, "claire@example.com")
    make_membership(admin, company, is_admin=True)
    _, hugo = person(app, "hugo@example.com")
    _, eve = person(app, "eve@example.com")
    join(hugo, "C-10001", CODE)
    [request] = access_requests(company)
    for action in ("remind", "withdraw"):
        response = eve.submit(f"/companies/requests/{request.public_id}/{action}", {}, form_path="/companies/requests")
        assert response.status_code == 404
    hugo.submit(f"/companies/requests/{request.public_id}/withdraw", {}, form_path="/companies/requests")
    assert [r.status for r in access_requests(company)] == ["withdrawn"]
    assert "You have no pending access request." in hugo.client.get("/companies/requests").get_data(as_text=True)


def test_joining_twice_says_so(app):
    company = make_company("C-10001", name="Durand SARL")
    _, ana = person(app, "ana@example.com")
    assert join(ana, "C-10001", CODE).status_code == 302
    again = join(ana, "C-10001", CODE)
    assert again.status_code == 409 and "already a member of Durand SARL" in again.get_data(as_text=True)
    assert len(memberships(company)) == 1


def test_two_people_joining_an_adminless_company_at_once_make_one_admin(app, smtp):
    company = make_company("C-10001")
    people = [person(app, f"p{n}@example.com") for n in range(4)]
    forms = [p[1].get_form("/companies/join")[1] for p in people]

    def joiner(actions, token):
        return lambda: actions.client.post("/companies/join", data={
            "csrf_token": token, "company_id": "C-10001", "member_code": CODE}).headers["Location"]

    locations = at_once([joiner(p[1], t) for p, t in zip(people, forms, strict=True)])
    assert sorted(locations) == ["/companies/requests"] * 3 + ["/tools"]
    admins = [m for m in memberships(company) if m.is_admin]
    assert len(admins) == 1 and len(memberships(company)) == 1
    assert len(access_requests(company)) == 3
    # The three requests went to the one admin.
    deliver(smtp)
    admin_email = next(p[0].email for p in people if p[0].id == admins[0].user_id)
    assert len(smtp.to(admin_email)) == 3


def test_concurrent_approvals_make_one_membership(app, smtp):
    company = make_company("C-10001")
    admins = [person(app, f"admin{n}@example.com") for n in range(3)]
    for user, _ in admins:
        make_membership(user, company, is_admin=True)
    requester, hugo = person(app, "hugo@example.com")
    join(hugo, "C-10001", CODE)
    [request] = access_requests(company)
    base = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    tokens = [a[1].get_form(base)[1] for a in admins]

    def approver(actions, token, role):
        return lambda: actions.client.post(base + "/approve", data={"csrf_token": token, "role": role}).status_code

    statuses = at_once([approver(a[1], t, role) for a, t, role in
                         zip(admins, tokens, ["order", "prices_only", "order_for_approval"], strict=True)])
    assert sorted(statuses) == [302, 409, 409]
    mine = [m for m in memberships(company) if m.user_id == requester.id]
    assert len(mine) == 1
    assert [r.status for r in access_requests(company)] == ["approved"]
    assert access_requests(company)[0].role == mine[0].role
    assert len(mail_to(smtp, "hugo@example.com")) == 1
    assert events("access_request.approved") == ["access_request.approved"]


def test_a_user_may_belong_to_several_companies(app):
    first = make_company("C-10001", name="Alpha")
    second = make_company("C-10002", name="Beta", member_code="OTHER-99")
    user, ana = person(app, "ana@example.com")
    assert join(ana, "C-10001", CODE).status_code == 302
    assert join(ana, "C-10002", "OTHER-99").status_code == 302
    assert [m.user_id for m in memberships(first) + memberships(second)] == [user.id, user.id]
    page = ana.client.get("/tools").get_data(as_text=True)
    assert "Switch company" in page and "Alpha" in page and "Beta" in page


def test_admin_link_needs_sign_in(app, smtp):
    company = make_company("C-10001")
    admin = make_user("claire@example.com")
    make_membership(admin, company, is_admin=True)
    anonymous = browser(app)
    response = anonymous.client.get(f"/admin/companies/{company.public_id}/members")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_a_stranger_gets_a_token_with_the_role_an_admin_approved(app, smtp):
    """Done when (1): join, the admin's decision by email, then a token carrying company and role."""
    company = make_company("C-10001", name="Durand SARL")
    admin_user, claire = person(app, "claire@example.com", given_name="Claire")
    make_membership(admin_user, company, is_admin=True)

    make_user("hugo@example.com", given_name="Hugo", family_name="Petit", locale="en")
    hugo = browser(app)
    # The stranger starts at the portal: signed in, but no company, so no access yet.
    page = walk(hugo, authorize(hugo.client), login="hugo@example.com")
    assert page.status_code == 403 and "not linked to any company yet" in page.get_data(as_text=True)
    assert join(hugo, "C-10001", "CODE-1234").headers["Location"] == "/companies/requests"

    [ask] = mail_to(smtp, "claire@example.com")
    link = next(x for x in smtp.links(ask) if "/admin/companies/" in x)
    response = claire.submit(path_of(link) + "/approve", {"role": "order_for_approval", "branch": "Lyon"},
                             form_path=path_of(link))
    assert response.status_code == 302
    [approved] = mail_to(smtp, "hugo@example.com")
    assert "approved" in approved["Subject"]

    location = walk(hugo, authorize(hugo.client))
    claims = id_token(hugo.client, tokens(hugo.client, location))
    assert claims["company"] == {"id": "C-10001", "name": "Durand SARL", "role": "order_for_approval",
                                 "admin": False, "branch": "Lyon"}
    assert (claims["company_id"], claims["company_role"], claims["company_admin"], claims["company_branch"]) == (
        "C-10001", "order_for_approval", "false", "Lyon")


def test_a_pending_request_closes_when_its_requester_becomes_the_first_admin(app):
    company = make_company("C-10001")
    admin, _ = person(app, "claire@example.com")
    admin_membership = make_membership(admin, company, is_admin=True)
    _, hugo = person(app, "hugo@example.com")
    join(hugo, "C-10001", CODE)
    # The only admin leaves the company (an operator's doing); Hugo tries again.
    db.session.delete(admin_membership)
    db.session.commit()
    assert join(hugo, "C-10001", CODE).headers["Location"] == "/tools"
    assert [r.status for r in access_requests(company)] == ["approved"]



@pytest.mark.parametrize(("locale", "first", "again"), [
    ("en", "You can remind the administrators from Thursday, March 13, 2031 at 2:06 PM (UTC).",
     "You can remind the administrators again on Friday, March 14, 2031 at 4:30 PM (UTC)."),
    ("fr", "Vous pourrez relancer les administrateurs à partir du jeudi 13 mars 2031 à 14:06 (UTC).",
     "Vous pourrez relancer à nouveau les administrateurs le vendredi 14 mars 2031 à 16:30 (UTC)."),
], ids=["en", "fr"])
def test_a_greyed_out_reminder_says_when_it_becomes_possible(app, locale, first, again):
    import html
    from datetime import UTC, datetime

    company = make_company("C-10001", name="Durand SARL")
    admin, _ = person(app, "claire@example.com")
    make_membership(admin, company, is_admin=True)
    make_user("hugo@example.com", locale=locale)
    hugo = browser(app)
    hugo.login("hugo@example.com", PASSWORD)
    join(hugo, "C-10001", CODE)
    [request] = access_requests(company)

    def shown():
        page = html.unescape(hugo.client.get("/companies/requests").get_data(as_text=True))
        assert f'disabled aria-describedby="remind-on-{request.id}"' in page
        return " ".join(page.replace("\u202f", " ").replace("\xa0", " ").split())

    # Filed at 14:05:07: possible a day later, shown to the minute rounded up (never a moment too early).
    db.session.execute(update(AccessRequest).values(created_at=datetime(2031, 3, 12, 14, 5, 7, tzinfo=UTC)))
    db.session.commit()
    assert first in shown()
    db.session.execute(update(AccessRequest).values(reminded_at=datetime(2031, 3, 13, 16, 30, tzinfo=UTC)))
    db.session.commit()
    assert again in shown()
