"""Numbers in paths: a row id the database cannot hold, or digits that are not ASCII, are a 404."""

from types import SimpleNamespace

import pytest
from werkzeug.routing.converters import NumberConverter

from idp.extensions import db
from idp.models import Invitation
from idp.web.routing import ROW_ID_MAX, RowIdConverter
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import browser, company_config

BAD_IDS = [
    ("99999999999999999999", "twenty-digits"),
    (str(2**63), "above-bigint"),
    (str(ROW_ID_MAX + 1), "above-integer"),
    ("9" * 5000, "five-thousand-digits"),
    ("%C2%B2", "superscript-two"),
    ("%D9%A3", "arabic-indic-three"),
    ("%EF%BC%91", "fullwidth-one"),
    ("-1", "negative"),
    ("1%00", "nul"),
]


@pytest.fixture
def config_overrides():
    return company_config()


@pytest.fixture
def admin(app):
    company = make_company("C-1")
    user = make_user("admin@example.com")
    make_membership(user, company, is_admin=True)
    from idp.companies import invitations

    with app.test_request_context():
        invitation = invitations.invite(company, "invitee@example.com", "order", actor=user)
        db.session.commit()
    actions = browser(app)
    assert actions.login("admin@example.com", PASSWORD).status_code == 302
    return SimpleNamespace(actions=actions, company=company, invitation=invitation)


@pytest.mark.parametrize("action", ["revoke", "resend"])
@pytest.mark.parametrize("invitation_id", [value for value, _ in BAD_IDS], ids=[name for _, name in BAD_IDS])
def test_an_invitation_id_out_of_range_is_not_found(admin, action, invitation_id):
    path = f"/admin/companies/{admin.company.public_id}/invitations/{invitation_id}/{action}"
    response = admin.actions.submit(path, {}, form_path=f"/admin/companies/{admin.company.public_id}/invite")
    assert response.status_code == 404
    assert "This page does not exist." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Invitation, admin.invitation.id).revoked_at is None


def test_the_invitations_own_id_still_reaches_the_view(admin):
    """The control case: the 404s above come from the bound, not from a broken route."""
    path = f"/admin/companies/{admin.company.public_id}/invitations/{admin.invitation.id}/revoke"
    response = admin.actions.submit(path, {}, form_path=f"/admin/companies/{admin.company.public_id}/invite")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Invitation, admin.invitation.id).revoked_at is not None


def test_every_number_in_a_path_is_bounded(app):
    """A new `<int:...>` route gets the same bound: every number converter is the bounded one."""
    numbered = [(rule.rule, converter) for rule in app.url_map.iter_rules()
                for converter in rule._converters.values() if isinstance(converter, NumberConverter)]
    assert numbered, "no numbered route to check"
    for path, converter in numbered:
        assert isinstance(converter, RowIdConverter) and converter.max <= ROW_ID_MAX, path
