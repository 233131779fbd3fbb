"""Sign-up: /register → confirmation email → /confirm/<token> → signed in."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import User
from idp.models.users import UserStatus
from tests.factories import PASSWORD, make_user
from tests.integration.flows.mailbox import events, lifecycle_config, link_in, mail_to, same_page

GOOD = "Brand-New-Pass-31"


@pytest.fixture
def extra_config():
    return {}


@pytest.fixture
def config_overrides(smtp, extra_config):
    return lifecycle_config(smtp, **extra_config)


def form(**changes):
    data = {"email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": GOOD,
            "password_confirm": GOOD, "given_name": "Zoé", "family_name": "Martin"}
    data.update(changes)
    return data


def register(actions, **changes):
    return actions.submit("/register", form(**changes))


def test_sign_up_confirm_signed_in(client, actions, smtp):
    response = register(actions)
    assert response.status_code == 200
    assert "A message has been sent to zoe@example.com." in response.get_data(as_text=True)
    user = db.session.scalars(select(User)).one()
    assert user.status == UserStatus.PENDING and not user.email_verified and user.locale == "en"

    # Signing in before confirming: the right password is told to confirm; nothing else is.
    unconfirmed = actions.login("zoe@example.com", GOOD)
    assert unconfirmed.status_code == 403 and "/confirm/resend" in unconfirmed.get_data(as_text=True)
    assert actions.login("zoe@example.com", "Wrong-Pass-99").status_code == 401

    message = mail_to(smtp, "zoe@example.com")[-1]
    assert message["Subject"] == "Confirm your account"
    path = link_in(smtp, message, "/confirm/")
    page = client.get(path)  # a mail scanner's GET changes nothing
    assert page.status_code == 200 and "Confirm my account" in page.get_data(as_text=True)
    db.session.refresh(user)
    assert user.status == UserStatus.PENDING

    response = actions.submit(path, {})
    # The registering browser typed the password: it is signed in.
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"zoe@example.com" in client.get("/").data
    db.session.refresh(user)
    assert user.status == UserStatus.ACTIVE and user.email_verified
    assert events("user.registered", "user.email_confirmed", "user.signed_in") == [
        "user.registered", "user.email_confirmed", "user.signed_in"]

    actions.logout()
    assert actions.login("zoe@example.com", GOOD).status_code == 302


def test_confirming_in_another_browser_asks_to_sign_in(app, client, actions, smtp):
    from tests.conftest import Actions

    register(actions)
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    other = app.test_client()
    response = Actions(other).submit(path, {})
    assert response.status_code == 200 and "your account is confirmed" in response.get_data(as_text=True)
    assert other.get("/").status_code == 302  # not signed in
    assert Actions(other).login("zoe@example.com", GOOD).status_code == 302


def test_confirmation_link_is_single_use(client, actions, smtp):
    register(actions)
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    assert actions.submit(path, {}).status_code == 302
    again = client.get(path)
    assert again.status_code == 410
    text = again.get_data(as_text=True)
    assert "expired or has already been used" in text and 'action="/confirm/resend"' in text
    assert actions.submit(path, {}, form_path="/confirm/resend").status_code == 410


def test_expired_confirmation_link(client, actions, smtp):
    from datetime import timedelta

    from sqlalchemy import update

    from idp.models import Link
    from idp.models.base import utcnow

    register(actions)
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    link = db.session.scalars(select(Link)).one()
    assert timedelta(hours=23, minutes=59) < link.expires_at - utcnow() <= timedelta(hours=24)
    db.session.execute(update(Link).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(path).status_code == 410
    assert actions.submit(path, {}, form_path="/confirm/resend").status_code == 410
    assert db.session.scalars(select(User)).one().status == UserStatus.PENDING


def test_resend_gives_a_new_link(client, actions, smtp):
    register(actions)
    first = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    response = actions.submit("/confirm/resend", {"email": "zoe@example.com"})
    assert response.status_code == 200
    second = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    assert first != second
    assert actions.submit(second, {}).status_code == 302
    assert client.get(first).status_code == 410  # confirming voided the other links


@pytest.mark.parametrize("address", ["nobody@example.com", "ana@example.com"], ids=["unknown", "confirmed"])
def test_resend_reveals_nothing(client, actions, smtp, address):
    make_user("ana@example.com")
    register(actions)
    pending = actions.submit("/confirm/resend", {"email": "zoe@example.com"})
    other = actions.submit("/confirm/resend", {"email": address})
    assert pending.status_code == other.status_code == 200
    assert same_page(pending, "zoe@example.com") == same_page(other, address)
    assert mail_to(smtp, address) == []


def test_resend_is_rate_limited(client, actions, smtp):
    register(actions)
    answers = [actions.submit("/confirm/resend", {"email": "zoe@example.com"}) for _ in range(6)]
    # Throttled, the answer is the usual one (idp.security.throttling), but no link is sent.
    assert [a.status_code for a in answers] == [200] * 6
    assert same_page(answers[-1], "zoe@example.com") == same_page(answers[0], "zoe@example.com")
    assert len(mail_to(smtp, "zoe@example.com")) == 1 + 5
    assert events("user.confirmation_throttled") == ["user.confirmation_throttled"]


def test_existing_address_looks_the_same_and_gets_a_notice(client, actions, smtp):
    make_user("ana@example.com", password=PASSWORD)
    fresh = register(actions)
    existing = register(actions, email="ana@example.com", email_confirm="ana@example.com")
    assert fresh.status_code == existing.status_code == 200
    assert same_page(fresh, "zoe@example.com") == same_page(existing, "ana@example.com")
    assert sorted(fresh.headers.keys()) == sorted(existing.headers.keys())
    notice = mail_to(smtp, "ana@example.com")
    assert len(notice) == 1 and notice[0]["Subject"] == "You already have an account"
    assert "/password/forgot" in smtp.text(notice[0])
    assert actions.login("ana@example.com", PASSWORD).status_code == 302  # unchanged
    assert events("user.registration_for_existing_account") == ["user.registration_for_existing_account"]


def test_registering_a_pending_address_again(client, actions, smtp, app):
    from tests.conftest import Actions

    # Somebody else registered zoe's address first, with their own password.
    intruder = Actions(app.test_client())
    register(intruder, password="Intruder-Pass-77", password_confirm="Intruder-Pass-77")
    register(actions)
    messages = mail_to(smtp, "zoe@example.com")
    assert len(messages) == 2
    mine = link_in(smtp, messages[-1], "/confirm/")
    Actions(app.test_client()).submit(mine, {})
    # The owner of the mailbox confirmed the second sign-up: its password counts, not the first.
    assert actions.login("zoe@example.com", GOOD).status_code == 302
    assert intruder.login("zoe@example.com", "Intruder-Pass-77").status_code == 401


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email_confirm": "zoe@example.org"}, "The two email addresses are not the same."),
        ({"email": "not-an-address", "email_confirm": "not-an-address"}, "This email address is not valid."),
        ({"password_confirm": GOOD + "x"}, "The two passwords are not the same."),
        ({"password": "short", "password_confirm": "short"}, "at least 8 characters"),
        ({"password": "alllowercase-1", "password_confirm": "alllowercase-1"}, "needs an uppercase letter"),
        ({"password": "Zoe-Martin-zoe1", "password_confirm": "Zoe-Martin-zoe1"}, "contains your name"),
        ({"given_name": ""}, "Given name: this field is required."),
        ({"family_name": "   "}, "Family name: this field is required."),
    ],
    ids=["email-mismatch", "bad-email", "password-mismatch", "short", "no-upper", "personal", "no-given-name",
         "blank-family-name"],
)
def test_bad_input(client, actions, smtp, changes, message):
    response = register(actions, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalars(select(User)).all() == []


@pytest.mark.parametrize("typed", ["zoe@xn--bcher-kva.example", "Zoe@B\u00dcCHER.example"])
def test_the_same_address_typed_twice_is_accepted_in_any_form(client, actions, smtp, typed):
    """An internationalised domain typed twice as xn-- (or in capitals) is the same address twice.
    The local part keeps the case typed: only the domain is the same in any case."""
    response = register(actions, email=typed, email_confirm=typed)
    assert response.status_code == 200
    user = db.session.scalars(select(User)).one()
    assert user.email == typed.partition("@")[0] + "@bücher.example"
    assert user.email_key == "zoe@bücher.example"


def test_policy_is_described_on_the_form(client):
    text = client.get("/register").get_data(as_text=True)
    assert ("Your password must contain at least 8 characters, an uppercase letter, a lowercase letter, a digit, "
            "a special character") in text


@pytest.mark.parametrize("extra_config", [{"throttling": {"register_per_ip": "3 per hour"}}], ids=["3-per-hour"])
def test_sign_up_is_rate_limited(actions, smtp):
    statuses = [register(actions, email=f"p{i}@example.com", email_confirm=f"p{i}@example.com").status_code
                for i in range(4)]
    # Throttled, the answer is the usual one (idp.security.throttling), but no account is made.
    assert statuses == [200, 200, 200, 200]
    assert User.find_by_email("p3@example.com") is None and User.find_by_email("p2@example.com") is not None
    assert events("user.registration_throttled") == ["user.registration_throttled"]


def test_through_authorize(client, actions, smtp):
    """From the portal: /authorize → sign-in page → sign-up → confirm → back to the portal with a code."""
    from tests.integration.flows.mailbox import Portal

    portal = Portal(client)
    login_page = portal.start()
    uid = Portal.interaction(login_page)
    assert f'href="/register?interaction={uid}"' in client.get(login_page).get_data(as_text=True)
    response = actions.submit("/register", {**form(), "interaction": uid}, form_path=f"/register?interaction={uid}")
    assert response.status_code == 200
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    response = actions.submit(path, {})
    claims = portal.claims(portal.follow(response))
    assert claims["email"] == "zoe@example.com" and claims["email_verified"] is True
    assert claims["given_name"] == "Zoé"


def test_unconfirmed_sign_in_resend_confirm_through_authorize(app, client, actions, smtp):
    """Registered earlier elsewhere; signs in from a portal, is offered the resend, confirms, signs in."""
    from tests.conftest import Actions
    from tests.integration.flows.mailbox import Portal

    register(Actions(app.test_client()))  # another browser, long ago
    portal = Portal(client)
    login_page = portal.start()
    uid = Portal.interaction(login_page)
    refused = actions.submit("/login", {"login": "zoe@example.com", "password": GOOD, "interaction": uid},
                             form_path=login_page)
    assert refused.status_code == 403
    assert f'/confirm/resend?interaction={uid}' in refused.get_data(as_text=True)
    actions.submit("/confirm/resend", {"email": "zoe@example.com", "interaction": uid},
                   form_path=f"/confirm/resend?interaction={uid}")
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    confirmed = actions.submit(path, {})
    # Not the registering browser: it signs in, and the sign-in resumes the portal's request.
    assert confirmed.status_code == 200
    assert f'href="/login?interaction={uid}"' in confirmed.get_data(as_text=True)
    response = actions.submit("/login", {"login": "zoe@example.com", "password": GOOD, "interaction": uid},
                              form_path=f"/login?interaction={uid}")
    assert portal.claims(portal.follow(response))["email"] == "zoe@example.com"


@pytest.mark.parametrize("extra_config", [{"throttling": {"register_per_ip": "1000 per hour"}}], ids=["unthrottled"])
def test_timing_does_not_tell_whether_an_address_is_known(client, actions, smtp):
    """Medians of interleaved sign-ups with new and with taken addresses are within 10 %."""
    from statistics import median

    from idp.accounts.timing import RESPONSE_FLOOR_SECONDS
    from tests.integration.flows.mailbox import interleaved_durations

    make_user("ana@example.com")
    _, token = actions.get_form("/register")

    def new_address(index):
        address = f"new{index}@example.com"
        response = client.post("/register", data={"csrf_token": token, **form(email=address, email_confirm=address)})
        assert response.status_code == 200

    def taken_address(_index):
        response = client.post("/register", data={"csrf_token": token, **form(email="ana@example.com",
                                                                             email_confirm="ana@example.com")})
        assert response.status_code == 200

    fresh, taken = interleaved_durations(new_address, taken_address)
    assert min(fresh) >= RESPONSE_FLOOR_SECONDS and min(taken) >= RESPONSE_FLOOR_SECONDS
    assert abs(median(fresh) - median(taken)) <= 0.1 * min(median(fresh), median(taken)), (fresh, taken)
