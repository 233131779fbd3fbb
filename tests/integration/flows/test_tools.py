"""The list of tools (/tools): portals by role in the active company, names by language, the switcher."""

import pytest

from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import browser, company_config, person


@pytest.fixture
def config_overrides():
    return company_config()


def test_tools_follow_the_role_in_the_active_company(app):
    alpha = make_company("C-1", name="Alpha")
    beta = make_company("C-2", name="Beta")
    user, ana = person(app, "ana@example.com")
    make_membership(user, alpha, role="order")
    make_membership(user, beta, role="prices_only")
    page = ana.client.get("/tools").get_data(as_text=True)
    # Alpha comes first (by name): the shop and the catalogue, not the price list.
    assert "Acting for Alpha as: Place an order" in page
    assert 'href="https://shop.example.com/"' in page and 'href="https://catalogue.example.com/"' in page
    assert "https://prices.example.com/" not in page
    assert 'href="/logout"' in page

    _, token = ana.get_form("/tools")
    ana.client.post("/tools/company", data={"csrf_token": token, "company_id": beta.public_id})
    page = ana.client.get("/tools").get_data(as_text=True)
    assert "Acting for Beta as: See prices only" in page
    assert "https://shop.example.com/" not in page and 'href="https://prices.example.com/"' in page


def test_portal_names_are_in_the_users_language(app):
    company = make_company("C-1", name="Alpha")
    user, ana = person(app, "ana@example.com")
    make_membership(user, company, role="order")
    _, token = ana.get_form("/tools")
    ana.client.post("/language", data={"csrf_token": token, "language": "fr", "next": "/tools"})
    page = ana.client.get("/tools").get_data(as_text=True)
    assert "Boutique en ligne" in page and "Web shop" not in page


@pytest.mark.parametrize("company_id", ["", "nope", "C-3"], ids=["empty", "unknown", "not-a-member"])
def test_the_switcher_refuses_other_companies(app, company_id):
    alpha = make_company("C-1", name="Alpha")
    make_company("C-3", name="Gamma")
    user, ana = person(app, "ana@example.com")
    make_membership(user, alpha)
    _, token = ana.get_form("/tools")
    response = ana.client.post("/tools/company", data={"csrf_token": token, "company_id": company_id})
    assert response.status_code == 302
    assert "Choose one of your companies." in ana.client.get("/tools").get_data(as_text=True)


def test_without_company_only_portals_without_roles_are_listed(app):
    _, ana = person(app, "ana@example.com")
    page = ana.client.get("/tools").get_data(as_text=True)
    assert 'href="https://catalogue.example.com/"' in page
    assert "https://shop.example.com/" not in page and "https://prices.example.com/" not in page
    assert 'href="/companies/join"' in page


def test_tools_need_a_session(app):
    response = browser(app).client.get("/tools")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_home_leads_to_the_tools(app):
    _, ana = person(app, "ana@example.com")
    assert ana.client.get("/").headers["Location"] == "/tools"
