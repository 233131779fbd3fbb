"""The forms that take an address or a guess from a stranger answer a throttled attempt exactly as they
answer that input normally (page, status, cookies, timing floor), do nothing, and audit it: never a 429."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from idp.accounts.timing import RESPONSE_FLOOR_SECONDS
from idp.extensions import db
from idp.models import AuditEvent, Membership, OutboxMessage, User
from idp.models.users import UserStatus
from tests.factories import PASSWORD, make_company, make_user
from tests.integration.flows.mailbox import LIFECYCLE_FLOWS, events, lifecycle_config, same_page

GOOD = "Zoe-Strong-Pass-42"
CODE = "CODE-1234"
MISMATCH = "This company identifier and member code do not match."
EXPIRES = re.compile(r"Expires=[^;]+")
SESSION_ID = re.compile(r"^([^=]+)=[^;]*")


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp, flows=[*LIFECYCLE_FLOWS, "company_join"], throttling={
        "forgot_password_per_account": "2 per hour", "forgot_password_per_ip": "3 per hour",
        "confirm_resend_per_account": "2 per hour", "confirm_resend_per_ip": "3 per hour",
        "register_per_ip": "2 per hour", "company_join_per_user": "2 per hour",
        "company_join_per_ip": "100 per hour"})


def outbox() -> int:
    db.session.expire_all()
    return db.session.scalar(select(db.func.count()).select_from(OutboxMessage))


def timed_post(actions, path, data):
    _, token = actions.get_form(path)
    started = time.monotonic()
    response = actions.client.post(path, data={"csrf_token": token, **data})
    return response, time.monotonic() - started


def cookies(response) -> list[str]:
    """The Set-Cookie headers with the session id and the Expires date blanked: the same
    attributes (Max-Age is the lifetime), whichever second each answer was written in."""
    return [EXPIRES.sub("Expires=DATE", SESSION_ID.sub(r"\1=ID", value))
            for value in response.headers.getlist("Set-Cookie")]


def throttled_scopes(event):
    db.session.expire_all()
    return [e.details.get("scope") for e in db.session.scalars(select(AuditEvent).where(AuditEvent.event == event))]


def assert_same_answer(throttled, normal, typed_throttled, typed_normal, elapsed):
    assert throttled.status_code == normal.status_code == 200
    assert same_page(throttled, typed_throttled) == same_page(normal, typed_normal)
    assert sorted(throttled.headers.keys()) == sorted(normal.headers.keys())
    assert cookies(throttled) == cookies(normal)
    assert "Retry-After" not in throttled.headers
    assert elapsed >= RESPONSE_FLOOR_SECONDS


@pytest.mark.parametrize(
    ("addresses", "limit"),
    [(["ana@example.com"] * 3, "forgot-account"),
     (["ana@example.com", "ben@example.com", "cleo@example.com", "dan@example.com"], "forgot-ip")],
    ids=["per-address", "per-ip"],
)
def test_forgot_password(app, actions, addresses, limit):
    for address in set(addresses):
        make_user(address)
    answers = [timed_post(actions, "/password/forgot", {"email": address}) for address in addresses]
    (normal, _), (throttled, elapsed) = answers[-2], answers[-1]
    assert_same_answer(throttled, normal, addresses[-1], addresses[-2], elapsed)
    assert outbox() == len(addresses) - 1  # nothing sent for the throttled one
    assert throttled_scopes("user.password_reset_throttled") == [limit]


@pytest.mark.parametrize(
    ("addresses", "limit"),
    [(["zoe@example.com"] * 3, "resend-account"),
     (["zoe@example.com", "yves@example.com", "xena@example.com", "will@example.com"], "resend-ip")],
    ids=["per-address", "per-ip"],
)
def test_resending_a_confirmation(app, actions, addresses, limit):
    for address in set(addresses):
        make_user(address, status=UserStatus.PENDING, email_verified=False)
    answers = [timed_post(actions, "/confirm/resend", {"email": address}) for address in addresses]
    (normal, _), (throttled, elapsed) = answers[-2], answers[-1]
    assert_same_answer(throttled, normal, addresses[-1], addresses[-2], elapsed)
    assert outbox() == len(addresses) - 1
    assert throttled_scopes("user.confirmation_throttled") == [limit]


def test_signing_up(app, actions):
    def sign_up(address):
        return timed_post(actions, "/register", {"email": address, "email_confirm": address, "password": GOOD,
                                                 "password_confirm": GOOD, "given_name": "Zoé",
                                                 "family_name": "Martin"})

    sign_up("first@example.com")
    normal, _ = sign_up("second@example.com")
    throttled, elapsed = sign_up("third@example.com")
    assert_same_answer(throttled, normal, "third@example.com", "second@example.com", elapsed)
    assert cookies(throttled)  # the session is written on every path alike
    assert User.find_by_email("third@example.com") is None
    assert outbox() == 2
    assert events("user.registration_throttled") == ["user.registration_throttled"]


def test_joining_a_company(app, actions):
    company = make_company("C-10001")
    make_user("ana@example.com", locale="en")
    assert actions.login("ana@example.com", PASSWORD).status_code == 302

    def join(code):
        return actions.submit("/companies/join", {"company_id": "C-10001", "member_code": code})

    wrong = [join("GUESS-1") for _ in range(2)]
    throttled = join("GUESS-1")
    assert wrong[-1].status_code == throttled.status_code == 400
    assert same_page(throttled, "GUESS-1") == same_page(wrong[-1], "GUESS-1")
    assert sorted(throttled.headers.keys()) == sorted(wrong[-1].headers.keys())
    # Even the right code gets the wrong code's answer: it is not checked while throttled.
    right = join(CODE)
    assert right.status_code == 400 and MISMATCH in right.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Membership).where(Membership.company_id == company.id)).all() == []
    assert events("company.join_failed", "company.join_locked_out") == [
        "company.join_failed"] * 2 + ["company.join_locked_out"] * 2
    assert throttled_scopes("company.join_locked_out") == ["join-user"] * 2
