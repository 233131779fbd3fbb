"""Company administration by its admins: roles, admin rights, deactivation, removal, invitations, audit."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import at_once, company_config, memberships, person
from tests.integration.flows.mailbox import mail_to

LAST_ADMIN = "The last administrator of a company cannot be removed, demoted or deactivated."


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


@pytest.fixture
def team(app):
    company = make_company("C-1", name="Durand SARL")
    admin_user, admin = person(app, "claire@example.com")
    make_membership(admin_user, company, is_admin=True)
    member_user, member = person(app, "hugo@example.com")
    make_membership(member_user, company, role="order")
    return company, admin_user, admin, member_user, member


def _post(actions, company, user, action, **data):
    base = f"/admin/companies/{company.public_id}/members"
    response = actions.submit(f"{base}/{user.public_id}/{action}", data, form_path=base)
    assert response.status_code == 302, response.status_code
    return actions.client.get(response.headers["Location"]).get_data(as_text=True)


def _state(company, user):
    membership = next(m for m in memberships(company) if m.user_id == user.id)
    return membership.role, membership.branch, membership.is_admin, membership.status


CONFIRMED = {"confirm": "yes"}  # what the confirmation page's button sends with its CSRF token


def test_members_page_lists_role_admin_branch_and_status(team):
    company, _, admin, _member_user, _ = team
    page = admin.client.get(f"/admin/companies/{company.public_id}/members").get_data(as_text=True)
    assert "claire@example.com" in page and "hugo@example.com" in page
    assert "Place an order" in page and "Active" in page and "Pending requests: 0" in page


def test_change_role_grant_and_take_back_admin(team):
    company, admin_user, admin, member_user, _ = team
    page = _post(admin, company, member_user, "role", role="prices_only", branch="Lyon")
    assert "The role was changed." in page
    assert _state(company, member_user) == ("prices_only", "Lyon", False, "active")
    assert "Administrator rights granted." in _post(admin, company, member_user, "admin", admin="1")
    assert _state(company, member_user)[2] is True
    assert "Administrator rights taken back." in _post(admin, company, member_user, "admin", admin="0")
    assert _state(company, member_user)[2] is False
    db.session.expire_all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("membership.%"))
                                .order_by(AuditEvent.id)).all()
    assert [e.event for e in events] == ["membership.role_changed", "membership.admin_granted",
                                         "membership.admin_revoked"]
    # Who, what, when, from where.
    assert all(e.actor_id == admin_user.id and e.user_id == member_user.id and e.company_id == company.id
               and e.ip == "127.0.0.1" and e.created_at is not None for e in events)


@pytest.mark.parametrize(("field", "value"), [("role", "emperor"), ("branch", "x" * 101)], ids=["role", "branch"])
def test_bad_role_changes_are_refused(team, field, value):
    company, _, admin, member_user, _ = team
    data = {"role": "order", "branch": "", field: value}
    page = _post(admin, company, member_user, "role", **data)
    assert "The role was changed." not in page
    assert _state(company, member_user) == ("order", None, False, "active")


def test_deactivate_reactivate_remove(team):
    company, _, admin, member_user, member = team
    assert "The member was deactivated." in _post(admin, company, member_user, "deactivate", **CONFIRMED)
    assert _state(company, member_user)[3] == "disabled"
    # A deactivated membership is gone from the member's tools.
    assert "Acting for" not in member.client.get("/tools").get_data(as_text=True)
    assert "The member was reactivated." in _post(admin, company, member_user, "reactivate")
    assert _state(company, member_user)[3] == "active"
    assert "The member was removed." in _post(admin, company, member_user, "remove", **CONFIRMED)
    assert [m.user_id for m in memberships(company)] != [] and all(
        m.user_id != member_user.id for m in memberships(company))


@pytest.mark.parametrize(("action", "data"), [("remove", CONFIRMED), ("deactivate", CONFIRMED),
                                              ("admin", {"admin": "0"})], ids=["remove", "deactivate", "demote"])
def test_the_last_admin_stays(team, action, data):
    company, admin_user, admin, _, _ = team
    page = _post(admin, company, admin_user, action, **data)
    assert LAST_ADMIN in page
    assert _state(company, admin_user) == ("order", None, True, "active")


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, team):
    company, admin_user, admin, member_user, member = team
    make_membership_admin = next(m for m in memberships(company) if m.user_id == member_user.id)
    make_membership_admin.is_admin = True
    db.session.commit()
    base = f"/admin/companies/{company.public_id}/members"
    tokens = [a.get_form(base)[1] for a in (admin, member)]

    def demote(actions, token, target):
        url = f"{base}/{target.public_id}/admin"
        return lambda: actions.client.post(url, data={"csrf_token": token, "admin": "0"}).status_code

    statuses = at_once([demote(admin, tokens[0], member_user), demote(member, tokens[1], admin_user)])
    # Either both ran (the second refused as the last admin), or the first demotion landed before
    # the other admin's request was authorized, which then finds them no longer an admin (404).
    assert sorted(statuses) in ([302, 302], [302, 404])
    assert [m.is_admin for m in memberships(company)].count(True) == 1


def test_invite_from_the_admin_pages(team, smtp):
    company, _, admin, _, _ = team
    path = f"/admin/companies/{company.public_id}/invite"
    response = admin.submit(path, {"email": "new@example.com", "role": "order_for_approval", "branch": "Lyon"})
    assert response.status_code == 302
    page = admin.client.get(path).get_data(as_text=True)
    assert "An invitation was sent to new@example.com." in page and "new@example.com" in page
    [message] = mail_to(smtp, "new@example.com")
    assert any("/invitations/" in link for link in smtp.links(message))
    bad = admin.submit(path, {"email": "not-an-address", "role": "order"})
    assert bad.status_code == 400


def test_pending_requests_show_on_the_members_page(app, team):
    company, _, admin, _, _ = team
    from tests.integration.companies.helpers import join

    _, newcomer = person(app, "new@example.com")
    join(newcomer, "C-1", "CODE-1234")
    page = admin.client.get(f"/admin/companies/{company.public_id}/members").get_data(as_text=True)
    assert "Pending requests: 1" in page
    requests_page = admin.client.get(f"/admin/companies/{company.public_id}/requests").get_data(as_text=True)
    assert "new@example.com" in requests_page


def test_the_admin_index_lists_administered_companies(team):
    _company, _, admin, _, member = team
    assert "Durand SARL" in admin.client.get("/admin/").get_data(as_text=True)
    assert "You administer no company." in member.client.get("/admin/").get_data(as_text=True)
