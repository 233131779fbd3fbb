"""The members page row by row: whom each control acts on, labelled fields, one name per action,
configured labels rather than codes, and a confirmation step before a member is cut off."""

import pytest

from tests.factories import make_company, make_membership
from tests.integration.admin.pages import read, speak, text
from tests.integration.companies.helpers import company_config, memberships, person

LANGUAGES = ["en", "fr"]
LONG_NAME = {"given_name": "Marie-Bérénice", "family_name": "de La Tour-d'Auvergne-Lauraguais"}


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


@pytest.fixture
def team(app):
    company = make_company("C-1", name="Électricité Durand SARL")
    admin_user, admin = person(app, "claire@example.com", given_name="Claire", family_name="Durand")
    make_membership(admin_user, company, is_admin=True)
    member_user, _ = person(app, "marie-berenice.delatourdauvergne@electricite-durand.example.com", **LONG_NAME)
    make_membership(member_user, company, role="order_for_approval", branch="Lyon")
    return company, admin_user, admin, member_user


def members_url(company):
    return f"/admin/companies/{company.public_id}/members"


def member_rows(actions, company):
    page = read(actions.client.get(members_url(company)).get_data(as_text=True))
    return page, [row for row in page.rows if row.header]


def member_page(actions, company, user):
    return read(actions.client.get(f"{members_url(company)}/{user.public_id}").get_data(as_text=True))


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_row_names_its_person_and_links_to_their_page(team, language):
    company, admin_user, admin, member_user = team
    speak(admin, language)
    page, rows = member_rows(admin, company)
    assert [row.header for row in rows] == [
        "Claire Durand claire@example.com",
        f"{member_user.name} {member_user.email}",
    ]
    # A row holds no form: its actions are on the member's page, behind one link naming the person.
    assert all(row.buttons == [] and row.field_ids == [] for row in rows)
    for user in (admin_user, member_user):
        [link] = [link for link in page.links if link[0] == f"{members_url(company)}/{user.public_id}"]
        assert link[2].startswith(link[1]) and user.name in link[2], link  # WCAG 2.5.3


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_of_a_member_page_says_whom_it_acts_on(team, language):
    company, admin_user, admin, member_user = team
    speak(admin, language)
    for user in (admin_user, member_user):
        buttons = [b for b in member_page(admin, company, user).buttons if b.aria_label is not None]
        assert len(buttons) == 3  # admin rights, deactivate, remove
        for button in buttons:
            assert user.name in button.name and button.name.startswith(button.text), button
        texts = [button.text for button in buttons]
        assert len(set(texts)) == len(texts), texts


@pytest.mark.parametrize(("language", "take_back", "remove"), [
    ("en", "Take back admin rights", "Remove from the company"),
    ("fr", "Révoquer les droits d'administrateur", "Retirer de l'entreprise"),
], ids=LANGUAGES)
def test_taking_back_admin_rights_and_removing_are_worded_apart(team, language, take_back, remove):
    company, admin_user, admin, _ = team
    speak(admin, language)
    texts = [button.text for button in member_page(admin, company, admin_user).buttons]  # the admin's own page
    assert take_back in texts and remove in texts


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_field_of_a_member_page_has_a_label(team, language):
    company, _, admin, member_user = team
    speak(admin, language)
    page = member_page(admin, company, member_user)
    wanted = {"en": {"Role", "Branch (optional)"}, "fr": {"Rôle", "Succursale (facultatif)"}}[language]
    assert wanted <= {page.labels.get(field_id) for field_id in page.field_ids}
    assert all(page.labels.get(field_id) for field_id in page.field_ids), page.field_ids
    assert len(set(page.field_ids)) == len(page.field_ids)


@pytest.mark.parametrize(("language", "role", "status"), [
    ("en", "Place an order for approval", "Active"),
    ("fr", "Placer une commande pour approbation", "Actif"),
], ids=LANGUAGES)
def test_roles_and_statuses_show_by_their_labels(team, language, role, status):
    company, _, admin, member_user = team
    speak(admin, language)
    page = text(admin.client.get(members_url(company)).get_data(as_text=True))
    column = {"en": "Status", "fr": "Statut"}[language]
    assert f"{role} · Lyon" in page
    assert f'data-label="{column}">{status}<' in page
    assert ">active<" not in page and ">order_for_approval<" not in page
    own = text(admin.client.get(f"{members_url(company)}/{member_user.public_id}").get_data(as_text=True))
    assert f'<option value="order_for_approval" selected>{role}</option>' in own


def _confirmation_form(page_html, path):
    [form] = [f for f in read(page_html).forms if f.get("method") == "post" and f.get("action") == path]
    return form


@pytest.mark.parametrize(("action", "question", "effect"), [
    ("remove", "Remove Marie-Bérénice de La Tour-d'Auvergne-Lauraguais from Électricité Durand SARL?",
     lambda states: states == []),
    ("deactivate", "Deactivate Marie-Bérénice de La Tour-d'Auvergne-Lauraguais?",
     lambda states: states == ["disabled"]),
], ids=["remove", "deactivate"])
def test_cutting_a_member_off_takes_a_confirmation_page(team, action, question, effect):
    company, _, admin, member_user = team
    path = f"{members_url(company)}/{member_user.public_id}/{action}"

    def states():
        return [m.status for m in memberships(company) if m.user_id == member_user.id]

    # The row's button is a GET: the page asks, and changes nothing.
    page = admin.client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert question in text(html) and member_user.email in html
    assert read(html).scripts == 0  # works with scripting off
    form = _confirmation_form(html, path)
    assert " confirm=yes" in form["fields"] and " csrf_token=" in form["fields"]
    assert states() == ["active"]

    # A POST carrying only its CSRF token (an old page, a forged click) gets the question too.
    unconfirmed = admin.submit(path, {}, form_path=members_url(company))
    assert unconfirmed.status_code == 200 and question in text(unconfirmed.get_data(as_text=True))
    assert states() == ["active"]

    # `confirm=yes` without the CSRF token is refused (by the CSRF check of every form).
    forged = admin.client.post(path, data={"confirm": "yes"})
    assert forged.status_code == 400
    assert states() == ["active"]

    # The confirmation page's own button does it.
    done = admin.submit(path, {"confirm": "yes"}, form_path=path)
    assert done.status_code == 302 and done.headers["Location"] == members_url(company)
    assert effect(states())


def test_the_confirmation_page_speaks_the_admins_language(team):
    company, _, admin, member_user = team
    speak(admin, "fr")
    html = text(admin.client.get(f"{members_url(company)}/{member_user.public_id}/remove").get_data(as_text=True))
    assert f"Retirer {member_user.name} de l'entreprise Électricité Durand SARL ?" in html
    assert "Annuler et revenir" in html
