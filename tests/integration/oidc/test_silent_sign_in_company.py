"""A silent sign-in (prompt=none) acts for the company /tools shows: the session's active company.

Review finding (issue 12, item 16): after joining a second company, the shop's prompt=none
sign-in answered interaction_required although /tools said "Acting for …". /tools showed its
fallback (the first company) without it being the session's, which is all the company step reads.
"""

from __future__ import annotations

import re

import pytest

from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import (
    access_requests,
    authorize,
    company_config,
    id_token,
    join,
    memberships,
    person,
    tokens,
    walk,
)
from tests.integration.oidc.conftest import query


@pytest.fixture
def config_overrides():
    return company_config()


def _acting_for(actions):
    html = actions.client.get("/tools").get_data(as_text=True)
    found = re.findall(r"Acting for ([^<]+?) as:", html)
    assert len(found) == 1, html
    return found[0]


def _silent_company(actions, client_id="shop", redirect_uri="https://shop.example.com/callback"):
    """The company in the tokens of a prompt=none sign-in to the portal."""
    response = authorize(actions.client, client_id=client_id, redirect_uri=redirect_uri, prompt="none")
    location = response.headers["Location"]
    assert "code" in query(location), location
    secret = {"shop": "shop-secret-0123456789", "catalogue": "catalogue-secret-0123456"}[client_id]
    claims = id_token(actions.client, tokens(actions.client, location, client_id=client_id, secret=secret,
                                             redirect_uri=redirect_uri), audience=client_id)
    return claims["company_name"]


def test_after_an_approved_second_company_the_silent_sign_in_uses_the_one_tools_shows(app):
    alpha = make_company("C-1", name="Alpha")
    beta = make_company("C-2", name="Beta")
    boss, boss_browser = person(app, "boss@example.com")
    make_membership(boss, beta, role="order", is_admin=True)
    ana, browser = person(app, "ana@example.com")
    make_membership(ana, alpha, role="order", is_admin=True)

    assert join(browser, "C-2", "CODE-1234").headers["Location"] == "/companies/requests"
    request_page = f"/admin/companies/{beta.public_id}/requests/"
    [pending] = access_requests(beta)
    approved = boss_browser.submit(request_page + pending.public_id + "/approve", {"role": "order"},
                                   form_path=request_page + pending.public_id)
    assert approved.status_code == 302
    assert {m.user_id for m in memberships(beta)} == {boss.id, ana.id}

    shown = _acting_for(browser)
    assert shown == "Alpha"
    assert _silent_company(browser) == shown
    # The interactive sign-in agrees: no picker, the same company.
    location = walk(browser, authorize(browser.client))
    assert isinstance(location, str), location.get_data(as_text=True)[:300]
    assert id_token(browser.client, tokens(browser.client, location))["company_name"] == shown


def test_after_founding_a_second_company_the_silent_sign_in_uses_the_one_tools_shows(app):
    make_company("C-1", name="Alpha")
    make_company("C-2", name="Beta")
    _, browser = person(app, "ana@example.com")
    assert join(browser, "C-1", "CODE-1234").headers["Location"] == "/tools"
    assert join(browser, "C-2", "CODE-1234").headers["Location"] == "/tools"
    shown = _acting_for(browser)
    assert shown == "Alpha"  # joining does not move the active company
    assert _silent_company(browser) == shown


def test_switching_on_tools_moves_the_silent_sign_in_too(app):
    alpha = make_company("C-1", name="Alpha")
    beta = make_company("C-2", name="Beta")
    ana, browser = person(app, "ana@example.com")
    make_membership(ana, alpha, role="order")
    make_membership(ana, beta, role="order")
    assert _acting_for(browser) == "Alpha"
    assert _silent_company(browser) == "Alpha"
    browser.submit("/tools/company", {"company_id": beta.public_id}, form_path="/tools")
    assert _acting_for(browser) == "Beta"
    assert _silent_company(browser) == "Beta"


def test_a_silent_sign_in_to_a_portal_that_refuses_the_active_company_needs_the_person(app):
    """/tools acts for a company whose role the shop does not admit, and the person has another
    that it does: interactively the person gets the other; silently that is interaction_required,
    not access_denied (the person does have access)."""
    prices = make_company("C-1", name="Alpha")
    orders = make_company("C-2", name="Beta")
    ana, browser = person(app, "ana@example.com")
    make_membership(ana, prices, role="prices_only")
    make_membership(ana, orders, role="order")
    browser.submit("/tools/company", {"company_id": prices.public_id}, form_path="/tools")
    assert _acting_for(browser) == "Alpha"
    silent = authorize(browser.client, prompt="none")
    assert query(silent.headers["Location"])["error"] == "interaction_required"
    location = walk(browser, authorize(browser.client))
    assert id_token(browser.client, tokens(browser.client, location))["company_name"] == "Beta"
