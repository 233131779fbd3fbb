"""The company step and the portal-access step, through /authorize and /token (tokens read by PyJWT)."""

from types import SimpleNamespace

import pytest

from idp.companies import active_memberships, chosen_company_id
from idp.flows.company_choice import company_needed, portal_access_needed
from idp.pipeline import SessionFacts
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import (
    CATALOGUE,
    SHOP,
    SHOP_SECRET,
    authorize,
    company_config,
    id_token,
    tokens,
    walk,
)
from tests.integration.oidc.conftest import basic, query


@pytest.fixture
def config_overrides():
    return company_config()


@pytest.fixture
def two_companies(app):
    alpha = make_company("C-1", name="Alpha")
    beta = make_company("C-2", name="Beta")
    user = make_user("ana@example.com", locale="en")
    make_membership(user, alpha, role="order", is_admin=True)
    make_membership(user, beta, role="order_for_approval", branch="Nantes")
    return SimpleNamespace(user=user, alpha=alpha, beta=beta)


def test_picker_and_companies_claim_for_a_user_in_two_companies(client, actions, two_companies):
    page = walk(actions, authorize(client), login="ana@example.com")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Which company are you acting for on Web shop?" in html
    assert "Alpha" in html and "Beta" in html

    location = walk(actions, authorize(client), choose="Beta")
    claims = id_token(client, tokens(client, location))
    assert claims["company"] == {"id": "C-2", "name": "Beta", "role": "order_for_approval", "admin": False,
                                 "branch": "Nantes"}
    assert (claims["company_id"], claims["company_name"], claims["company_role"], claims["company_admin"],
            claims["company_branch"]) == ("C-2", "Beta", "order_for_approval", "false", "Nantes")
    assert sorted(c["id"] for c in claims["companies"]) == ["C-1", "C-2"]
    alpha = next(c for c in claims["companies"] if c["id"] == "C-1")
    assert alpha == {"id": "C-1", "name": "Alpha", "role": "order", "admin": True, "branch": None}


def test_the_choice_is_remembered_for_the_session_and_asked_again_on_request(client, actions, two_companies):
    walk(actions, authorize(client), login="ana@example.com", choose="Alpha")
    # A second portal sign-in in the same session: no page, the same company.
    location = walk(actions, authorize(client))
    assert isinstance(location, str) and location.startswith(SHOP)
    assert id_token(client, tokens(client, location))["company_id"] == "C-1"
    # prompt=select_account shows the picker again.
    page = walk(actions, authorize(client, prompt="select_account"))
    assert page.status_code == 200 and "Choose a company" in page.get_data(as_text=True)


def test_switching_from_tools_changes_the_company_of_the_next_sign_in(client, actions, two_companies):
    walk(actions, authorize(client), login="ana@example.com", choose="Alpha")
    _, token = actions.get_form("/tools")
    response = client.post("/tools/company", data={"csrf_token": token, "company_id": two_companies.beta.public_id})
    assert response.status_code == 302
    assert "You now act for Beta." in client.get("/tools").get_data(as_text=True)
    location = walk(actions, authorize(client))
    assert id_token(client, tokens(client, location))["company_id"] == "C-2"


def test_only_the_memberships_a_portal_admits_are_offered(app, client, actions):
    alpha = make_company("C-1", name="Alpha")
    beta = make_company("C-2", name="Beta")
    user = make_user("ana@example.com")
    make_membership(user, alpha, role="prices_only")
    make_membership(user, beta, role="order")
    # The shop admits order and order_for_approval: only Beta, so nothing to ask.
    location = walk(actions, authorize(client), login="ana@example.com")
    assert id_token(client, tokens(client, location))["company_id"] == "C-2"


def test_a_role_not_allowed_on_a_portal_never_yields_a_token(client, actions):
    company = make_company("C-1", name="Alpha")
    user = make_user("ana@example.com")
    make_membership(user, company, role="prices_only")
    page = walk(actions, authorize(client), login="ana@example.com")
    html = page.get_data(as_text=True)
    assert page.status_code == 403 and "No access to this portal" in html
    assert "Your role in your company does not give access to Web shop." in html
    assert "code=" not in html
    # Without a page to show (prompt=none), the portal gets access_denied and no code.
    location = walk(actions, authorize(client, prompt="none"))
    assert query(location)["error"] == "access_denied" and "code" not in query(location)
    # A portal for that role admits her.
    location = walk(actions, authorize(client, client_id="prices", redirect_uri="https://prices.example.com/callback"))
    assert "code" in query(location)


def test_a_portal_with_roles_refuses_someone_without_company(client, actions):
    make_user("ana@example.com")
    page = walk(actions, authorize(client), login="ana@example.com")
    assert page.status_code == 403
    assert "not linked to any company yet" in page.get_data(as_text=True)


def test_a_portal_without_roles_admits_everyone(client, actions):
    make_user("ana@example.com")
    location = walk(actions, authorize(client, client_id="catalogue", redirect_uri=CATALOGUE),
                    login="ana@example.com")
    result = query(location)
    assert "code" in result and "error" not in result


def test_disabled_memberships_vanish_from_claims(client, actions, two_companies, app):
    from idp.extensions import db

    location = walk(actions, authorize(client), login="ana@example.com", choose="Alpha")
    body = tokens(client, location)
    beta = next(m for m in two_companies.user.memberships if m.company_id == two_companies.beta.id)
    beta.status = "disabled"
    db.session.commit()
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                            headers=basic("shop", SHOP_SECRET))
    assert refreshed.status_code == 200
    claims = id_token(client, refreshed.get_json())
    assert [c["id"] for c in claims["companies"]] == ["C-1"]


def test_prompt_none_uses_the_company_remembered_in_the_session(client, actions, two_companies):
    walk(actions, authorize(client), login="ana@example.com", choose="Beta")
    location = walk(actions, authorize(client, prompt="none"))
    assert isinstance(location, str) and location.startswith(SHOP) and "code" in query(location)
    assert id_token(client, tokens(client, location))["company_id"] == "C-2"
    # The company switched on /tools is the one a silent sign-in uses next.
    _, token = actions.get_form("/tools")
    client.post("/tools/company", data={"csrf_token": token, "company_id": two_companies.alpha.public_id})
    location = walk(actions, authorize(client, prompt="none"))
    assert id_token(client, tokens(client, location))["company_id"] == "C-1"


def test_prompt_none_without_a_remembered_company_asks_for_interaction(client, actions, two_companies):
    actions.login("ana@example.com", PASSWORD)  # signed in at the provider, no company chosen yet
    location = walk(actions, authorize(client, prompt="none"))
    assert query(location)["error"] == "interaction_required"


def test_the_company_hint_is_used_when_usable(app, two_companies):
    """Pipeline level: a `company` parameter naming a membership skips the picker and is the choice."""
    user = two_companies.user
    memberships = active_memberships(user)

    def interaction(prompts=(), **params):
        return SimpleNamespace(user=user, client_id="shop", params=params, done={}, prompts=set(prompts),
                               session=SessionFacts(user_id=user.id))

    assert company_needed(interaction()) == "several_companies"
    # Interactive: recorded by the view without a page; under prompt=none, read from the hint.
    assert company_needed(interaction(company="C-2")) == "company_hint"
    assert company_needed(interaction(prompts=["none"], company="C-2")) is None
    assert chosen_company_id(interaction(company="C-2"), memberships) == two_companies.beta.public_id
    assert chosen_company_id(interaction(company=two_companies.alpha.public_id), memberships) == (
        two_companies.alpha.public_id)
    # A company the person is not a member of is no hint: the picker is shown.
    stranger = make_company("C-3")
    assert company_needed(interaction(company="C-3")) == "several_companies"
    assert company_needed(interaction(company=stranger.public_id)) == "several_companies"
    assert portal_access_needed(interaction(company="C-2")) is None


def test_a_company_hint_skips_the_picker_and_is_the_company_of_the_token(client, actions, two_companies):
    location = walk(actions, authorize(client, company="C-2"), login="ana@example.com")
    assert isinstance(location, str), location.get_data(as_text=True)[:300]
    assert id_token(client, tokens(client, location))["company_id"] == "C-2"
    # A hint naming a company she does not belong to is ignored: the picker is shown.
    make_company("C-3")
    page = walk(actions, authorize(client, company="C-3"))
    assert page.status_code == 200 and "Choose a company" in page.get_data(as_text=True)


def test_expired_interactions_get_a_clear_page(client, actions):
    make_user("ana@example.com")
    actions.login("ana@example.com", PASSWORD)
    for path in ("/companies/choose?interaction=nope", "/companies/no-access?interaction=nope"):
        response = client.get(path)
        assert response.status_code == 400 and "This sign-in has expired" in response.get_data(as_text=True)
