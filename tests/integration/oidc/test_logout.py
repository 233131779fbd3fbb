"""RP-initiated logout and back-channel logout (logout tokens posted to a real HTTP receiver)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.backchannel import Receiver
from tests.integration.oidc.conftest import CLIENTS, WEB_SECRET, query, verify_jwt


@pytest.fixture
def receiver():
    created = Receiver()
    yield created
    created.stop()


@pytest.fixture
def config_overrides(receiver):
    clients = [dict(c) for c in CLIENTS]
    clients[0]["backchannel_logout_uri"] = receiver.url
    return {"clients": clients, "flows": ["login", "consent"]}


def _signed_in(flow):
    code, _ = flow.code_for("ada")
    return flow.exchange(code).get_json()


def test_rp_initiated_logout_with_hint_and_back_channel(flow, user, client, receiver, app):
    body = _signed_in(flow)
    id_token = verify_jwt(client, body["id_token"], audience="web")
    response = client.get("/logout?" + urlencode({"id_token_hint": body["id_token"], "state": "bye",
                                                  "post_logout_redirect_uri": "https://web.example.com/"}))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://web.example.com/?state=bye"
    # Signed out: the next authorization asks for a sign-in.
    again = flow.authorize(response_type="code", client_id="web", redirect_uri="https://web.example.com/callback",
                           scope="openid", prompt="none")
    assert query(again.headers["Location"])["error"] == "login_required"

    from idp.oidc.backchannel import deliver_due

    with app.app_context():
        assert deliver_due() == 1
    assert len(receiver.tokens) == 1
    logout = verify_jwt(client, receiver.tokens[0], audience="web", typ="logout+jwt")
    assert logout["sub"] == user.public_id
    assert logout["sid"] == id_token["sid"]
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    assert "nonce" not in logout


def test_back_channel_retries(flow, user, client, receiver, app):
    from datetime import UTC, datetime

    from idp.extensions import db
    from idp.models import BackchannelDelivery
    from idp.oidc.backchannel import deliver_due

    _signed_in(flow)
    receiver.fail = True
    actions_logout = flow.actions.logout()
    assert actions_logout.status_code == 200
    with app.app_context():
        assert deliver_due() == 0
        row = db.session.execute(db.select(BackchannelDelivery)).scalar_one()
        assert row.attempts == 1 and row.delivered_at is None and row.last_error == "HTTP 500"
        row.next_attempt_at = datetime.now(UTC)
        db.session.commit()
    receiver.fail = False
    with app.app_context():
        assert deliver_due() == 1
    assert len(receiver.tokens) == 1


@pytest.mark.parametrize(("params", "fragment"), [
    ({"post_logout_redirect_uri": "https://evil.example.com/"}, "post_logout_redirect_uri"),
    ({"post_logout_redirect_uri": "https://web.example.com/", "client_id": "web-post"}, "post_logout_redirect_uri"),
    ({"id_token_hint": "not-a-token"}, "id_token_hint"),
], ids=["unregistered", "other-client", "bad-hint"])
def test_logout_rules(flow, user, client, params, fragment):
    _signed_in(flow)
    response = client.get("/logout?" + urlencode(params))
    assert response.status_code == 400
    assert f"({fragment})" in response.get_data(as_text=True)


def test_logout_without_hint_asks_to_confirm(flow, user, client):
    _signed_in(flow)
    page = client.get("/logout?" + urlencode({"client_id": "web", "post_logout_redirect_uri": "https://web.example.com/",
                                              "state": "s1"}))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="post_logout_redirect_uri"' in html
    from tests.conftest import csrf_from

    done = client.post("/logout", data={"csrf_token": csrf_from(html), "client_id": "web", "state": "s1",
                                        "post_logout_redirect_uri": "https://web.example.com/"})
    assert done.status_code == 302
    assert done.headers["Location"] == "https://web.example.com/?state=s1"


def test_hint_of_an_ended_session_just_redirects(flow, user, client):
    body = _signed_in(flow)
    flow.actions.logout()
    response = client.get("/logout?" + urlencode({"id_token_hint": body["id_token"],
                                                  "post_logout_redirect_uri": "https://web.example.com/"}))
    assert response.headers["Location"] == "https://web.example.com/"
    # Refresh tokens outlive the SSO session (offline access), as in OIDC Core 11.
    refresh = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                         {"Authorization": "Basic " + __import__("base64").b64encode(
                             f"web:{WEB_SECRET}".encode()).decode()})
    assert refresh.status_code == 200
