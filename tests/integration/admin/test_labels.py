"""Operators read statuses, roles and audit events by their labels, in French and English, never as bare codes.

The event list is found in the source: every string literal naming an event in a `record(...)`
call (audit.record, and helpers of the same name that pass it on). An event recorded anywhere
without a label in idp.admin.labels.EVENTS fails here.
"""

import ast
import re
from pathlib import Path

import pytest
from flask_babel import force_locale

from idp import audit
from idp.admin import labels
from idp.extensions import db
from idp.models.base import utcnow
from idp.models.companies import MembershipStatus
from idp.models.requests import AccountRequest, RequestStatus
from idp.models.users import UserStatus
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.admin.pages import speak, text
from tests.integration.companies.helpers import browser, company_config

ROOT = Path(__file__).resolve().parents[3]
EVENT_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)+")
LANGUAGES = ["en", "fr"]


def recorded_events() -> dict[str, str]:
    """Event name -> where it is first recorded (path:line)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "idp").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name != "record":
                continue
            for constant in ast.walk(node.args[0]):  # `"a.b" if x else "a.c"` names two events
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str) \
                        and EVENT_NAME.fullmatch(constant.value):
                    found.setdefault(constant.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_search_finds_the_events_it_should():
    """The control case: the scan below would pass on nothing if it found nothing."""
    found = recorded_events()
    assert {"user.signed_in", "membership.removed", "membership.admin_granted", "membership.admin_revoked",
            "access_request.reminded"} <= set(found)


def test_every_recorded_event_has_a_label():
    missing = {name: where for name, where in recorded_events().items() if name not in labels.EVENTS}
    assert missing == {}, f"add a label to idp.admin.labels.EVENTS (and its French) for: {missing}"


@pytest.mark.parametrize(("statuses", "table"), [
    (MembershipStatus, labels.MEMBERSHIP_STATUSES),
    (UserStatus, labels.USER_STATUSES),
    (RequestStatus, labels.REQUEST_STATUSES),
], ids=["membership", "user", "request"])
def test_every_status_has_a_label(statuses, table):
    assert sorted(set(statuses) - set(table)) == []


@pytest.mark.parametrize("table", ["MEMBERSHIP_STATUSES", "USER_STATUSES", "REQUEST_STATUSES", "EVENTS"])
def test_every_label_reads_differently_in_french(app, table):
    labelled = getattr(labels, table)
    with app.test_request_context():
        english = {code: str(label) for code, label in labelled.items()}
        with force_locale("fr"):
            french = {code: str(label) for code, label in labelled.items()}
    assert [code for code in labelled if french[code] == english[code]] == []


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


def operator_browser(app, language):
    make_user("olivia@example.com", given_name="Olivia", family_name="Martin", is_operator=True)
    olivia = browser(app)
    assert olivia.login("olivia@example.com", PASSWORD).status_code == 302
    speak(olivia, language)
    return olivia


@pytest.mark.parametrize(("language", "signed_in", "prices_only", "imported"), [
    ("en", "A person signed in.", "See prices only", "The company directory was imported."),
    ("fr", "Une personne s'est connectée.", "Voir les prix uniquement", "L'annuaire des entreprises a été importé."),
], ids=LANGUAGES)
def test_the_audit_log_tells_events_in_sentences_with_their_code_beside(app, language, signed_in, prices_only,
                                                                        imported):
    company = make_company("C-1", name="Électricité Durand")
    member = make_user("hugo@example.com")
    with app.test_request_context():
        audit.record("membership.role_changed", user=member, company=company, role="prices_only", branch=None,
                     before={"role": "order", "branch": "Montréal"})
        audit.record("companies.imported", created=1, updated=0, file="sociétés.csv")
        db.session.commit()
    olivia = operator_browser(app, language)
    page = text(olivia.client.get("/admin/operator/audit").get_data(as_text=True))
    assert f'<th scope="row" title="user.signed_in">{signed_in}<br><code class="muted">user.signed_in</code>' in page
    assert imported in page and "Électricité Durand" in page
    # The role by its label; other details as plain Unicode, not JSON escapes.
    assert prices_only in page and "sociétés.csv" in page and '"Montréal"' in page
    assert "\\u00" not in page
    # The filter offers the events by their labels and keeps the code as the value sent.
    assert f'<option value="user.signed_in">{signed_in}</option>' in page
    filtered = text(olivia.client.get("/admin/operator/audit?event=companies.imported").get_data(as_text=True))
    assert imported in filtered and signed_in not in filtered.split("<tbody>")[1]


@pytest.mark.parametrize(("language", "role", "status", "membership"), [
    ("en", "Place an order for approval", "Active account", "Deactivated"),
    ("fr", "Placer une commande pour approbation", "Compte actif", "Désactivé"),
], ids=LANGUAGES)
def test_the_users_page_shows_roles_and_statuses_by_their_labels(app, language, role, status, membership):
    ana = make_user("ana@example.com", given_name="Ana", family_name="Lopes")
    make_membership(ana, make_company("C-1", name="Alpha"), role="order_for_approval", is_admin=True)
    make_membership(ana, make_company("C-2", name="Beta"), role="order", status=MembershipStatus.DISABLED)
    olivia = operator_browser(app, language)
    page = text(olivia.client.get("/admin/operator/users?q=ana").get_data(as_text=True))
    administrator = {"en": "administrator", "fr": "administrateur"}[language]
    column = {"en": "Status", "fr": "Statut"}[language]
    assert f"<li>Alpha: {role}, {administrator}</li>" in page
    assert f"({membership})</li>" in page
    assert f'data-label="{column}">{status}</td>' in page
    assert "order_for_approval" not in page and ">active<" not in page


@pytest.mark.parametrize(("language", "pending"), [("en", "Waiting for a decision"), ("fr", "En attente de décision")],
                         ids=LANGUAGES)
def test_account_requests_show_their_status_by_its_label(app, language, pending):
    found = AccountRequest(customer_number="C-9", company_name="Gamma", contact_given_name="A",
                           contact_family_name="B", contact_email="a@gamma.example",
                           people=[{"given_name": "Io", "family_name": "Ba", "email": "io@gamma.example",
                                    "role": "prices_only"}], terms_accepted_at=utcnow())
    db.session.add(found)
    db.session.commit()
    olivia = operator_browser(app, language)
    listing = text(olivia.client.get("/admin/operator/account-requests").get_data(as_text=True))
    assert f">{pending}</td>" in listing and ">pending<" not in listing
    detail = text(olivia.client.get(f"/admin/operator/account-requests/{found.public_id}").get_data(as_text=True))
    assert pending in detail and {"en": "See prices only", "fr": "Voir les prix uniquement"}[language] in detail
