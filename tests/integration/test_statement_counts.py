"""What a page or a grant costs in SQL statements does not grow with the data (issue 17).

Each page and grant runs once on a small data set and once on a larger one (a company of 10 and
of 200 members, a person in 1 and in 20 companies...); the statements are counted with
SQLAlchemy's `before_cursor_execute` event and must be the same. An N+1 (a SELECT per row) shows
up as a difference of about the data's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from idp.extensions import db
from idp.models import AccessRequest, AccountRequest, AuditEvent, Company, Invitation, Membership, User
from idp.models.base import new_public_id, utcnow
from idp.models.requests import RequestStatus
from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import SHOP, SHOP_SECRET, authorize, company_config, person, query, walk
from tests.integration.oidc.conftest import basic

SMALL, LARGE = 10, 200


@pytest.fixture
def config_overrides():
    return company_config()


@contextmanager
def counting() -> Iterator[list[str]]:
    """The SQL statements the application runs inside the block."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_of(call: Callable[[], Any]) -> int:
    with counting() as statements:
        response = call()
    status = getattr(response, "status_code", 200)
    assert status < 400, (status, response.get_data(as_text=True)[:300])
    return len(statements)


def assert_same(small: int, large: int, what: str) -> None:
    assert small == large, f"{what}: {small} statements with little data, {large} with more"


# Seeding in one transaction: many rows, few statements.


def add_people(count: int, family_name: str = "Martin") -> list[User]:
    start = db.session.query(User).count()
    users = [User(email=f"seed{start + n}@example.com", email_verified=True, given_name=f"Given{n}",
                  family_name=family_name, username=f"seed{start + n}", password_hash=None)
             for n in range(count)]
    db.session.add_all(users)
    db.session.flush()
    return users


def add_members(company: Company, count: int, family_name: str = "Martin") -> list[User]:
    users = add_people(count, family_name)
    db.session.add_all([Membership(user_id=u.id, company_id=company.id, role="order", is_admin=False)
                        for u in users])
    db.session.commit()
    return users


def add_companies(count: int, prefix: str) -> list[Company]:
    made = [Company(external_id=f"{prefix}-{n}", name=f"{prefix} company {n:03d}") for n in range(count)]
    db.session.add_all(made)
    db.session.flush()
    return made


# The grants: /token (code), refresh, /userinfo, /tools, the company picker.


def sign_in_costs(app: Any, email: str, company_count: int) -> dict[str, int]:
    """A person in `company_count` companies signs in to the shop; the statements of each step."""
    user, actions = person(app, email)
    for company in add_companies(company_count, email.split("@")[0]):
        db.session.add(Membership(user_id=user.id, company_id=company.id, role="order"))
    db.session.commit()
    client = actions.client
    costs: dict[str, int] = {}
    response = authorize(client, scope="openid profile email companies offline_access")
    location = walk(actions, response)
    if not isinstance(location, str):  # the picker: counted, then a company chosen
        picker = "/companies/choose?" + location.request.query_string.decode()
        costs["picker"] = statements_of(lambda: client.get(picker))
        location = walk(actions, response, choose=f"{email.split('@')[0]} company 001")
    code = query(location)["code"]
    body: dict[str, Any] = {}

    def exchange() -> Any:
        answer = client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": SHOP},
                             headers=basic("shop", SHOP_SECRET))
        body.update(answer.get_json())
        return answer

    costs["token"] = statements_of(exchange)
    costs["userinfo"] = statements_of(
        lambda: client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}))

    def refresh() -> Any:
        answer = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                             headers=basic("shop", SHOP_SECRET))
        body.update(answer.get_json())
        return answer

    costs["refresh"] = statements_of(refresh)
    costs["tools"] = statements_of(lambda: client.get("/tools"))
    return costs


def test_grants_cost_the_same_for_a_person_in_one_company_and_in_twenty(app):
    sign_in_costs(app, "warmup@example.com", 2)  # keys made, caches filled
    few = sign_in_costs(app, "two@example.com", 2)
    many = sign_in_costs(app, "twenty@example.com", 20)
    one = sign_in_costs(app, "one@example.com", 1)
    assert set(many) == {"picker", "token", "userinfo", "refresh", "tools"}
    for step in many:
        assert_same(few[step], many[step], step)
        if step != "picker":
            assert_same(one[step], many[step], step)


# The company admin's pages.


@pytest.fixture
def admin_of_two(app):
    """An admin of a company of SMALL members and of one of LARGE, each with as many pending
    requests and invitations."""
    admin_user, admin = person(app, "admin@example.com", given_name="Ada", family_name="Admin")
    made = {}
    for size in (SMALL, LARGE):
        company = make_company(f"C-{size}", name=f"Company of {size}")
        make_membership(admin_user, company, is_admin=True)
        add_members(company, size)
        requesters = add_people(size, family_name="Requester")
        db.session.add_all([AccessRequest(user_id=u.id, company_id=company.id, status=RequestStatus.PENDING)
                            for u in requesters])
        db.session.add_all([Invitation(company_id=company.id, email=f"inv{size}-{n}@example.com", role="order",
                                       token_hash=new_public_id() + new_public_id(),
                                       expires_at=utcnow() + timedelta(days=7))
                            for n in range(size)])
        db.session.commit()
        made[size] = company
    return admin, made


COMPANY_PAGES = {
    "members": "/admin/companies/{c}/members",
    "members search": "/admin/companies/{c}/members?q=mart",
    "members by role": "/admin/companies/{c}/members?sort=role",
    "requests": "/admin/companies/{c}/requests",
    "invitations": "/admin/companies/{c}/invite",
    "admin index": "/admin/",
}


def test_company_admin_pages_cost_the_same_at_10_and_200_members(app, admin_of_two):
    admin, made = admin_of_two
    for page, path in COMPANY_PAGES.items():
        small_path, large_path = (path.format(c=made[size].public_id) for size in (SMALL, LARGE))
        admin.client.get(small_path)  # warm-up
        small = statements_of(lambda small_path=small_path: admin.client.get(small_path))
        large = statements_of(lambda large_path=large_path: admin.client.get(large_path))
        assert_same(small, large, page)


def test_the_next_page_of_members_costs_the_same(app, admin_of_two):
    admin, made = admin_of_two
    path = f"/admin/companies/{made[LARGE].public_id}/members"
    first = admin.client.get(path)
    html = first.get_data(as_text=True)
    assert 'rel="next"' in html
    after = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert_same(statements_of(lambda: admin.client.get(path)), statements_of(lambda: admin.client.get(after)),
                "members, next page")


def test_a_member_page_costs_the_same_in_a_small_and_a_large_company(app, admin_of_two):
    admin, made = admin_of_two
    costs = []
    for size in (SMALL, LARGE):
        member = db.session.query(Membership).filter_by(company_id=made[size].id, is_admin=False).first()
        user = db.session.get(User, member.user_id)
        path = f"/admin/companies/{made[size].public_id}/members/{user.public_id}"
        admin.client.get(path)
        costs.append(statements_of(lambda path=path: admin.client.get(path)))
    assert_same(*costs, "member page")


# The operators' pages.


@pytest.fixture
def operator(app):
    operator_user, actions = person(app, "operator@example.com", given_name="Olga", family_name="Operator")
    operator_user.is_operator = True
    db.session.commit()
    return actions


def seed_operator_data(size: int, tag: str) -> None:
    """`size` people named `tag` (each in two companies), `size` companies, account requests and events."""
    companies = add_companies(size, tag)
    users = add_people(size, family_name=tag)
    db.session.add_all([Membership(user_id=u.id, company_id=c.id, role="order")
                        for u in users for c in (companies[0], companies[-1])])
    db.session.add_all([AccountRequest(customer_number=f"{tag}-{n}", company_name=f"{tag} {n}",
                                       contact_given_name="A", contact_family_name=tag,
                                       contact_email=f"{tag}{n}@example.com", people=[],
                                       terms_accepted_at=utcnow(), status=RequestStatus.PENDING)
                        for n in range(size)])
    db.session.add_all([AuditEvent(event=f"user.{tag}", user_id=u.id, actor_id=u.id, company_id=companies[0].id,
                                   details={"n": n}) for n, u in enumerate(users)])
    db.session.commit()


OPERATOR_PAGES = {
    "users by family name": "/admin/operator/users?q={tag}",
    "users by exact email": "/admin/operator/users?q=seed1%40example.com",
    "companies": "/admin/operator/companies?q={tag}",
    "account requests": "/admin/operator/account-requests",
    "audit log": "/admin/operator/audit",
    "audit by event": "/admin/operator/audit?event=user.{tag}",
}


def operator_costs(actions: Any, tag: str) -> dict[str, int]:
    costs = {}
    for page, path in OPERATOR_PAGES.items():
        path = path.format(tag=tag)
        actions.client.get(path)  # warm-up
        costs[page] = statements_of(lambda path=path: actions.client.get(path))
    return costs


def test_operator_pages_cost_the_same_with_10_and_200_rows(app, operator):
    seed_operator_data(SMALL, "small")
    small = operator_costs(operator, "small")
    seed_operator_data(LARGE, "large")
    large = operator_costs(operator, "large")
    for page in OPERATOR_PAGES:
        assert_same(small[page], large[page], page)
