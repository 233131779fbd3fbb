"""The administration pages in Chromium: every row's actions on screen at desktop widths, no page
wider than a phone at 375 px, in French and English, for a company of long names and addresses."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import COMPANY_FLOWS

pytestmark = pytest.mark.e2e

LOCALES = {"en": "en-GB", "fr": "fr-FR"}
DOMAIN = "electricite-generale-du-grand-sud-ouest.example.com"
PEOPLE = [  # (given name, family name, email, role, admin, status)
    ("Claire", "Durand", "claire.durand@electricite-generale-du-grand-sud-ouest.example.com", "order", True,
     "active"),
    ("Marie-Bérénice-Alexandrine", "de La Tour d'Auvergne-Lauraguais-Montmorency",
     "marie-berenice-alexandrine.delatourdauvergne@electricite-generale-du-grand-sud-ouest.example.com",
     "order_for_approval", False, "active"),
    ("Jean-Baptiste-Emmanuel", "Van der Westhuizen-Oppenheimer",
     "jean-baptiste-emmanuel.vanderwesthuizen-oppenheimer@electricite-generale-du-grand-sud-ouest.example.com",
     "prices_only", True, "active"),
    ("Anne-Sophie", "Marchand-Dubois-Lefèvre",
     "anne-sophie.marchand-dubois-lefevre@electricite-generale-du-grand-sud-ouest.example.com",
     "order_for_approval", False, "disabled"),
    ("Þórunn", "Guðmundsdóttir", "thorunn.gudmundsdottir@electricite-generale-du-grand-sud-ouest.example.com",
     "order", False, "active"),
    ("Wolfgang-Maximilian", "Schwarzenberg-Hohenlohe",
     "wolfgang-maximilian.schwarzenberg-hohenlohe@electricite-generale-du-grand-sud-ouest.example.com",
     "order_for_approval", False, "active"),
]
OPERATOR = "olivia.operator@example.com"
# Whether a select is as wide as it would be with no width rule at all: a copy left to size itself
# to its longest option is measured beside it (a select's scrollWidth never shows a cut option).
FITS_ITS_OPTIONS = """select => {
    const copy = select.cloneNode(true);
    copy.removeAttribute("id");
    Object.assign(copy.style, {width: "auto", maxWidth: "none", position: "absolute", visibility: "hidden"});
    select.parentElement.appendChild(copy);
    const wanted = copy.getBoundingClientRect().width;
    copy.remove();
    return select.getBoundingClientRect().width >= wanted - 0.5;
}"""


@pytest.fixture
def company(backend, tmp_path, live_server_factory) -> Iterator[SimpleNamespace]:
    """A live server, and in its database a company of six members with long names, and an operator."""
    from idp.extensions import db
    from tests.conftest import build_app

    server = live_server_factory(flows=COMPANY_FLOWS)
    seeder = build_app(backend, tmp_path / "seed", flows=COMPANY_FLOWS)
    with seeder.app_context():
        made = make_company("400108", name="Électricité Générale du Grand Sud-Ouest SARL")
        for given, family, email, role, admin, status in PEOPLE:
            user = make_user(email, given_name=given, family_name=family)
            make_membership(user, made, role=role, is_admin=admin, status=status,
                            branch="Toulouse-Blagnac" if admin else None)
        make_user(OPERATOR, given_name="Olivia", family_name="Martin", is_operator=True)
        public_id = made.public_id
        db.session.remove()
        db.engine.dispose()
    yield SimpleNamespace(server=server, url=server.url, public_id=public_id)


def signed_in(browser: Any, url: str, language: str, width: int, login: str) -> Any:
    context = browser.new_context(locale=LOCALES[language], viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(url + "/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(lambda address: "/login" not in address)  # the tools, or the home page
    assert page.locator("html").get_attribute("lang") == language
    return page


def page_width(page: Any) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_rows_actions_are_on_screen(browser, company, language):
    page = signed_in(browser, company.url, language, 1280, PEOPLE[0][2])
    try:
        for width in (1024, 1136, 1280, 1920):  # the rows turn into blocks below 1120 px
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{company.url}/admin/companies/{company.public_id}/members")
            card = page.locator("section.card").filter(has=page.locator("table.members"))
            # Nothing hidden in a card that scrolls sideways, nor past the card's edge.
            assert card.evaluate("c => c.scrollWidth <= c.clientWidth"), width
            edge = card.bounding_box()
            right = min(width, edge["x"] + edge["width"])
            rows = page.locator("table.members tbody tr")
            assert rows.count() == len(PEOPLE)
            for index in range(rows.count()):
                row = rows.nth(index)
                # A row's actions are on the member's page, behind one link (issue 17).
                links = row.locator("td.actions a")
                assert links.count() == 1, row.inner_text()
                box = links.first.bounding_box()
                assert box is not None and box["width"] > 0, (width, index)
                assert box["x"] >= max(0, edge["x"]) and box["x"] + box["width"] <= right, (
                    width, row.inner_text(), box, edge)
            assert page_width(page) <= width  # no sideways scrolling
            page.locator("table.members td.actions a").last.click()
            buttons = page.locator("#membership button")
            assert buttons.count() == 4  # change the role, admin rights, deactivate or reactivate, remove
            for number in range(buttons.count()):
                box = buttons.nth(number).bounding_box()
                assert box is not None and box["width"] > 0 and box["x"] + box["width"] <= width, (width, number)
            # The role select shows its longest option in full ("Placer une commande pour approbation").
            assert page.locator("#membership select").evaluate(FITS_ITS_OPTIONS), width
            assert page_width(page) <= width
    finally:
        page.context.close()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_phone_never_scrolls_sideways(browser, company, language):
    page = signed_in(browser, company.url, language, 375, PEOPLE[0][2])
    try:
        for path in ("members", "invite"):
            page.goto(f"{company.url}/admin/companies/{company.public_id}/{path}")
            assert page_width(page) <= 375, path
        # A pending invitation to a long address: its row too.
        page.fill("#email", "quelquun.avec.une.adresse.tres.longue@electricite-generale-du-grand-sud-ouest.example.com")
        page.click("button.primary")
        page.wait_for_selector("table.admin-table")
        assert page_width(page) <= 375
    finally:
        page.context.close()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_operator_pages_fit_at_1280(browser, company, language):
    page = signed_in(browser, company.url, language, 1280, OPERATOR)
    try:
        for path in (f"/admin/operator/users?q={DOMAIN}", "/admin/operator/audit", "/admin/operator/companies"):
            page.goto(company.url + path)
            assert page_width(page) <= 1280, path
        page.goto(company.url + f"/admin/operator/users?q={DOMAIN}")  # the operators' search by domain
        rows = page.locator("table.admin-table tbody tr")
        assert rows.count() == len(PEOPLE)
        for index in range(rows.count()):
            button = rows.nth(index).locator("button")
            if button.count():
                box = button.bounding_box()
                assert box is not None and box["x"] + box["width"] <= 1280
    finally:
        page.context.close()
