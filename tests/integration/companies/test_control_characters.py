"""Control characters are refused wherever text enters: every form field (by the base Form, with
no line in the form), the command line and the company directory import.

A name with CR LF made the email subject raise (and the email was never sent); a branch with
CR LF reached the company_branch claim, which header-based portals turn into a header.
"""

import pytest
import yaml
from markupsafe import escape
from sqlalchemy import select
from wtforms import FieldList, FormField, PasswordField, StringField, TextAreaField
from wtforms import Form as SubForm

from idp.companies import invitations
from idp.extensions import db
from idp.models import AccessRequest, AccountRequest, Company, Invitation, Membership, User
from idp.web.forms import Form
from tests.conftest import base_config
from tests.factories import make_company, make_membership, make_user
from tests.integration.companies.helpers import (
    COMPANY_FLOWS,
    access_requests,
    browser,
    company_config,
    join,
    person,
    run_cli,
)

# Each refused everywhere a single line of text is typed.
CONTROLS = [
    pytest.param("\r", id="CR"), pytest.param("\n", id="LF"), pytest.param("\r\n", id="CRLF"),
    pytest.param("\t", id="TAB"), pytest.param("\x00", id="NUL"), pytest.param("\x1b", id="ESC"),
    pytest.param("\x7f", id="DEL"), pytest.param("\x85", id="C1-NEL"), pytest.param("\x9b", id="C1-CSI"),
    pytest.param("\u2028", id="LINE-SEPARATOR"), pytest.param("\u2029", id="PARAGRAPH-SEPARATOR"),
    pytest.param("\u202e", id="RLO"), pytest.param("\u2066", id="LRI"), pytest.param("\u200f", id="RLM"),
]
# What a multi-line field (a textarea) may hold all the same.
LINE_BREAKS = [pytest.param("\r\n", id="CRLF"), pytest.param("\n", id="LF"), pytest.param("\t", id="TAB")]
NOT_EVEN_IN_A_TEXTAREA = [p for p in CONTROLS if p.id not in ("CR", "LF", "CRLF", "TAB")]
SINGLE_LINE = "line breaks, tabs and other control characters are not allowed."


class PersonForm(SubForm):
    given_name = StringField("First name")


class SampleForm(Form):
    """A form written without a thought for control characters: the base class refuses them."""

    name = StringField("Name")
    notes = TextAreaField("Notes")
    secret = PasswordField("Secret")
    people = FieldList(FormField(PersonForm), "Person", min_entries=1)


def posted(app, **data):
    with app.test_request_context(method="POST", data=data):
        form = SampleForm(meta={"csrf": False})
        return form.validate(), form


@pytest.mark.parametrize("control", CONTROLS)
def test_the_base_form_refuses_them_in_every_text_field(app, control):
    valid, form = posted(app, name=f"Ana{control}Bob")
    assert not valid and form.name.errors == [f"Name: {SINGLE_LINE}"]

    valid, form = posted(app, name="Ana", **{"people-0-given_name": f"Hugo{control}"})
    assert not valid and form.people.entries[0].form.given_name.errors == [f"First name (Person 1): {SINGLE_LINE}"]


@pytest.mark.parametrize("control", NOT_EVEN_IN_A_TEXTAREA)
def test_a_textarea_refuses_them_too(app, control):
    valid, form = posted(app, notes=f"first line\r\nsecond{control}")
    assert not valid
    assert form.notes.errors == ["Notes: control characters other than line breaks and tabs are not allowed."]


@pytest.mark.parametrize("control", LINE_BREAKS)
def test_a_textarea_keeps_its_line_breaks_and_tabs(app, control):
    assert posted(app, notes=f"first line{control}second")[0]


def test_names_in_any_script_and_passwords_as_typed_are_accepted(app):
    # The zero-width non-joiner spells Persian names; a password is never shown nor put in a header.
    valid, form = posted(app, name="Zoë Ø'Brien-Łukasz \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
                         secret="pass\x00word\n", **{"people-0-given_name": "Ἀλέξανδρος"})
    assert valid, form.errors


# Through the pages.


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp, flows=[*COMPANY_FLOWS, "account_request"])


@pytest.fixture
def durand(app):
    company = make_company("C-1", name="Durand SARL")
    claire_user, claire = person(app, "claire@example.com")
    make_membership(claire_user, company, is_admin=True)
    return company, claire


@pytest.mark.parametrize("control", CONTROLS)
def test_an_invitation_with_such_a_branch_is_refused(durand, control):
    company, claire = durand
    path = f"/admin/companies/{company.public_id}/invite"
    response = claire.submit(path, {"email": "bruno@example.com", "role": "order", "branch": f"QC{control}X"})
    assert response.status_code == 400 and f"Branch: {SINGLE_LINE}" in response.get_data(as_text=True)
    assert db.session.scalars(select(Invitation)).all() == []


@pytest.mark.parametrize("control", [pytest.param("\r\nX-Admin: true", id="CRLF-header"),
                                     pytest.param("\u202eCQ", id="RLO")])
def test_a_member_s_branch_with_them_is_refused_and_stays_as_it_was(app, durand, control):
    company, claire = durand
    hugo = make_user("hugo@example.com")
    make_membership(hugo, company, role="order", branch="MTL")
    members = f"/admin/companies/{company.public_id}/members"
    claire.submit(f"{members}/{hugo.public_id}/role", {"role": "order", "branch": f"QC{control}"}, form_path=members)
    assert f"Branch: {SINGLE_LINE}" in claire.client.get(members).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Membership.branch).where(Membership.user_id == hugo.id)).one() == "MTL"


def test_an_approval_with_such_a_branch_is_refused(app, durand):
    company, claire = durand
    _, hugo = person(app, "hugo@example.com")
    join(hugo, "C-1", "CODE-1234")
    [request] = access_requests(company)
    path = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    response = claire.submit(f"{path}/approve", {"role": "order", "branch": "QC\r\nX"}, form_path=path)
    assert response.status_code == 400 and f"Branch: {SINGLE_LINE}" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AccessRequest, request.id).status == "pending"
    assert len(db.session.scalars(select(Membership)).all()) == 1  # Claire's only


@pytest.mark.parametrize(("reason", "status"), [pytest.param("Not one of ours.\r\nSorry.", 302, id="CRLF-kept"),
                                              pytest.param("Not one of ours.\x1b[2J", 400, id="ESC-refused")])
def test_a_rejection_reason_keeps_its_lines_but_no_other_control(app, durand, reason, status):
    company, claire = durand
    _, hugo = person(app, "hugo@example.com")
    join(hugo, "C-1", "CODE-1234")
    [request] = access_requests(company)
    path = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    response = claire.submit(f"{path}/reject", {"reason": reason}, form_path=path)
    assert response.status_code == status
    db.session.expire_all()
    assert db.session.get(AccessRequest, request.id).status == ("rejected" if status == 302 else "pending")
    if status == 400:
        assert ("Reason: control characters other than line breaks and tabs are not allowed."
                in response.get_data(as_text=True))


ACCOUNT_REQUEST = {
    "customer_number": "C-1", "company_name": "Durand SARL", "address": "1 rue de la Paix", "city": "Lyon",
    "postal_code": "69001", "phone": "+33 4 00 00 00 00", "contact_given_name": "Claire",
    "contact_family_name": "Durand", "contact_email": "claire@durand.example",
    "people-0-given_name": "Claire", "people-0-family_name": "Durand", "people-0-email": "claire@durand.example",
    "people-0-role": "order", "terms": "y",
}


@pytest.mark.parametrize(("field", "label"), [("contact_family_name", "Last name"), ("city", "City"),
                                              ("people-0-given_name", "First name (User 1)")])
@pytest.mark.parametrize("control", [pytest.param("\r\nBcc: everyone@example.com", id="CRLF-header"),
                                     pytest.param("\x1b[2J", id="ESC"), pytest.param("\u2028", id="LS")])
def test_an_account_request_with_them_is_refused_and_says_which_field(app, field, label, control):
    make_company("C-1", name="Durand SARL")
    path = "/companies/account-request"
    response = browser(app).submit(path, {**ACCOUNT_REQUEST, field: ACCOUNT_REQUEST[field] + control})
    assert response.status_code == 400
    assert str(escape(f"{label}: {SINGLE_LINE}")) in response.get_data(as_text=True)
    assert db.session.scalars(select(AccountRequest)).all() == []


def test_joining_with_them_is_refused(app, durand):
    _, hugo = person(app, "hugo@example.com")
    response = join(hugo, "C-1\x00", "CODE-1234")
    assert response.status_code == 400
    assert f"Company identifier: {SINGLE_LINE}" in response.get_data(as_text=True)
    assert db.session.scalars(select(AccessRequest)).all() == []


# The command line and the directory import.


def config_file(backend, tmp_path, smtp):
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, **company_config(smtp))))
    return path


@pytest.mark.parametrize("control", [pytest.param("\r\n", id="CRLF"), pytest.param("\u202e", id="RLO"),
                                     pytest.param("\x00", id="NUL")])
def test_the_command_line_refuses_them(app, backend, tmp_path, smtp, control):
    make_company("C-1", name="Durand SARL")
    config = str(config_file(backend, tmp_path, smtp))
    invited = run_cli(["--config", config, "invite", "--company", "C-1", "--role", "order",
                       "--branch", f"QC{control}", "bruno@example.com"])
    assert invited.exit_code == 2 and "control characters (line breaks, tabs...) are not allowed" in invited.output
    created = run_cli(["--config", config, "users", "create", "--email", "bruno@example.com",
                       "--given-name", f"Bruno{control}", "--send-password-link"])
    assert created.exit_code == 2 and "--given-name" in created.output
    db.session.expire_all()
    assert db.session.scalars(select(Invitation)).all() == [] and User.find_by_email("bruno@example.com") is None


def test_the_domain_refuses_such_a_branch_whoever_calls_it(app, durand):
    company, _ = durand
    with app.test_request_context(), pytest.raises(invitations.InvitationError, match="control characters"):
        invitations.invite(company, "bruno@example.com", "order", branch="QC\nX")


def test_the_directory_import_refuses_them_and_writes_nothing(app, backend, tmp_path, smtp):
    csv_file = tmp_path / "companies.csv"
    csv_file.write_text('id,name,address,city,postal_code,phone,member_code,active\n'
                        'C-1,"Durand\r\nSARL",1 rue de la Paix,Lyon,69001,,CODE-1,true\n'
                        'C-2,Martin,,Nantes\x1b[2J,44000,,,true\n', encoding="utf-8", newline="")
    result = run_cli(["--config", str(config_file(backend, tmp_path, smtp)), "companies", "import", str(csv_file)])
    assert result.exit_code == 1, result.output
    assert "line 2: name contains a control character (a line break, a tab...)" in result.output
    assert "line 3: city contains a control character (a line break, a tab...)" in result.output

    yaml_file = tmp_path / "companies.yaml"
    yaml_file.write_text(yaml.safe_dump([{"id": "C-3", "name": "Petit \u202eLRS", "address": "", "city": "Lyon",
                                          "postal_code": "", "phone": "", "active": True}]))
    result = run_cli(["--config", str(config_file(backend, tmp_path, smtp)), "companies", "import", str(yaml_file)])
    assert result.exit_code == 1 and "item 1: name contains a control character" in result.output
    db.session.expire_all()
    assert db.session.scalars(select(Company)).all() == []
