"""Long lists (issue 17): keyset pages, searches by the start of a name, audit filters, bulk import."""

from datetime import timedelta

import pytest

from idp.companies.directory import import_companies
from idp.extensions import db
from idp.models import AuditEvent, Membership, User
from idp.models.base import utcnow
from tests.factories import make_company, make_membership
from tests.integration.admin.pages import read
from tests.integration.companies.helpers import company_config, person
from tests.integration.test_statement_counts import counting


@pytest.fixture
def config_overrides():
    return company_config()


@pytest.fixture
def big(app):
    company = make_company("C-1", name="Durand SARL")
    admin_user, admin = person(app, "admin@example.com", given_name="Ada", family_name="Admin")
    make_membership(admin_user, company, is_admin=True)
    users = [User(email=f"p{n:02d}@example.com", given_name="Given", family_name=("Zola" if n < 5 else "Martin"),
                  email_verified=True) for n in range(60)]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all([Membership(user_id=u.id, company_id=company.id, role="order") for u in users])
    db.session.commit()
    return company, admin


def rows_of(actions, path):
    html = actions.client.get(path).get_data(as_text=True)
    following = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&") if 'rel="next"' in html else None
    return [row.header for row in read(html).rows if row.header], following, html


def test_members_come_fifty_a_page_with_their_count(big):
    company, admin = big
    first, following, html = rows_of(admin, f"/admin/companies/{company.public_id}/members")
    assert len(first) == 50 and "61 members" in html
    second, after_that, _ = rows_of(admin, following)
    assert len(second) == 11 and after_that is None
    assert not set(first) & set(second)


def test_members_are_found_by_the_start_of_a_name_and_sorted(big):
    company, admin = big
    found, _, html = rows_of(admin, f"/admin/companies/{company.public_id}/members?q=zo")
    assert len(found) == 5 and all("Zola" in header for header in found) and "5 members" in html
    assert rows_of(admin, f"/admin/companies/{company.public_id}/members?q=ola")[0] == []  # the start only
    by_role, _, _ = rows_of(admin, f"/admin/companies/{company.public_id}/members?sort=role")
    assert len(by_role) == 50


def test_a_forged_position_is_a_first_page(big):
    company, admin = big
    assert len(rows_of(admin, f"/admin/companies/{company.public_id}/members?after=!!nonsense")[0]) == 50


def test_the_audit_log_filters_by_event_person_company_and_days(app):
    operator_user, operator = person(app, "operator@example.com")
    operator_user.is_operator = True
    other, _ = person(app, "other@example.com")
    company = make_company("C-7", name="Filtered SARL")
    old = utcnow() - timedelta(days=40)
    db.session.add_all([AuditEvent(event="company.switched", user_id=other.id, company_id=company.id),
                        AuditEvent(event="user.disabled", user_id=other.id, created_at=old),
                        AuditEvent(event="user.disabled", user_id=operator_user.id)])
    db.session.commit()

    def events(query):
        html = operator.client.get("/admin/operator/audit?" + query).get_data(as_text=True)
        return html.count('<td data-label="When"'), html

    assert events("event=user.disabled")[0] == 2
    assert events("event=user.disabled&person=other%40example.com")[0] == 1
    assert events("company=c-7")[0] == 1
    day = (utcnow() - timedelta(days=40)).date().isoformat()
    assert events(f"event=user.disabled&from={day}&to={day}")[0] == 1
    count, html = events("person=nobody%40example.com")
    assert count == 0 and "No account has the address or username nobody@example.com." in html


def test_an_unchanged_directory_is_read_once_and_written_never(app, tmp_path):
    path = tmp_path / "companies.csv"
    lines = ["id,name,address,city,postal_code,phone,member_code,active"]
    lines += [f"C-{n},Company {n},,Lyon,,,CODE-{n},true" for n in range(1, 1201)]
    path.write_text("\n".join(lines) + "\n")
    progress = []
    first = import_companies(path, progress=progress.append)
    assert (first.created, first.updated, first.unchanged) == (1200, 0, 0)
    assert progress == ["1000 of 1200 rows read"]
    with counting() as statements:
        again = import_companies(path)
    assert (again.created, again.updated, again.deactivated, again.unchanged) == (0, 0, 0, 1200)
    assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]) == 1
    path.write_text("\n".join([lines[0], "C-1,Company 1,,Lyon,,,CODE-1,false", "C-2,Renamed,,Lyon,,,,true"]) + "\n")
    changed = import_companies(path)
    assert (changed.created, changed.updated, changed.deactivated, changed.unchanged) == (0, 2, 1, 0)
