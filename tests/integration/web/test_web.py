"""Headers, cookies, error pages, health probes and the language of pages."""

import pytest

from tests.factories import PASSWORD, make_user


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain http on loopback


def test_no_inline_script_or_style_in_pages(client):
    html = client.get("/login").get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and "<style" not in html


def test_session_cookie_flags_on_loopback(client):
    cookie = client.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.mark.parametrize("config_overrides", [{"issuer": "https://login.example.com"}])
def test_secure_host_cookie_and_hsts_under_https(client):
    response = client.get("/login", base_url="https://login.example.com")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-idp_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "text"),
    [
        ("GET", "/no-such-page", {}, 404, "This page does not exist."),
        ("GET", "/no-such-page", {"Accept": "application/json"}, 404, '"error":"invalid_request"'),
        ("DELETE", "/login", {}, 405, "This page cannot be used this way."),
        ("POST", "/language", {}, 400, "This form has expired"),
        ("GET", "/dev/mail/", {}, 404, "This page does not exist."),  # only in the demo
    ],
    ids=["404-html", "404-json", "405", "csrf", "no-dev-mail-outside-demo"],
)
def test_errors_are_pages_or_json(client, method, path, headers, status, text):
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_oversized_request_is_refused(client):
    response = client.post("/login", data={"login": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "The request is too large." in response.get_data(as_text=True)


def test_unexpected_error_is_a_page_not_a_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("internal detail")

    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong on our side" in body and "internal detail" not in body


def test_health_probes(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok", "store": "ok"}


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ("", {"Accept-Language": "fr-FR,fr;q=0.9"}, "Se connecter"),
        ("", {"Accept-Language": "de"}, "Sign in"),  # the configuration's default here is en
        ("?ui_locales=fr", {"Accept-Language": "en"}, "Se connecter"),
    ],
    ids=["accept-language", "default", "ui_locales"],
)
def test_language_of_pages(client, query, headers, expected):
    assert f"<h1>{expected}</h1>" in client.get("/login" + query, headers=headers).get_data(as_text=True)


def test_language_switch_is_remembered_on_the_account(app, client, actions):
    from idp.extensions import db
    from idp.models import User

    user = make_user("ana@example.com", locale="en")
    actions.login("ana@example.com", PASSWORD)
    response = actions.submit("/language", {"language": "fr", "next": "/"}, form_path="/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Connecté en tant que" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "fr"


def test_language_switch_refuses_foreign_redirects(actions):
    response = actions.submit("/language", {"language": "fr", "next": "https://evil.example/"}, form_path="/login")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(("language", "message"), [("fr", "N'est pas un entier valide."),
                                                    ("en", "Not a valid integer value.")])
def test_form_messages_follow_the_page_language(app, language, message):
    """WTForms' own messages come from a catalogue read once per language, in the page's language
    (those of DataRequired and Length are said our own way: tests/integration/web/test_form_errors.py)."""
    from flask_babel import refresh
    from wtforms import IntegerField

    from idp.web.forms import Form

    class Probe(Form):
        number = IntegerField()

    for _ in range(2):  # the second time from the cached catalogue
        with app.test_request_context("/login", method="POST", data={"number": "x"},
                                      headers={"Accept-Language": language}):
            refresh()
            form = Probe(meta={"csrf": False})
            assert not form.validate()
            assert form.number.errors == [message]
