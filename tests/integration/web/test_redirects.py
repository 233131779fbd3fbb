"""Open redirects: every `next` a request carries leads to a page of this host, or to the home page.

Each hostile value goes through the real routes (the sign-in page and its POST, the set-password
step, the language switch, and the language form of the 404 page) and the Location header is
read as a browser reads it: tabs and newlines dropped, backslashes taken for slashes.
"""

import re
from urllib.parse import quote

import pytest

from tests.factories import PASSWORD, make_user
from tests.integration.web.helpers import form_next, language_next, on_this_host

OWN = "My-Own-Pass-5150"

HOSTILE = [
    ("/\t/evil.example/x", "tab"),
    ("/\n/x", "newline"),
    ("/\r\n/evil.example", "crlf"),
    ("/\x00/evil.example", "nul"),
    ("/\x7f/evil.example", "del"),
    ("/\x85/evil.example", "c1"),
    ("/\u202e/evil.example", "bidi-override"),
    ("/\u200b/evil.example", "zero-width"),
    ("/\u2028/evil.example", "line-separator"),
    ("\t//evil.example", "leading-tab"),
    ("//evil.example", "double-slash"),
    ("///evil.example", "triple-slash"),
    ("/\\evil.example", "backslash"),
    ("/\uff0fevil.example", "fullwidth-solidus"),
    ("/.//evil.example", "dot-segment"),
    ("https://evil.example/", "scheme"),
    ("javascript:alert(1)", "javascript"),
    ("/" + "a" * 5000, "very-long"),
]
IDS = [name for _, name in HOSTILE]
VALUES = [value for value, _ in HOSTILE]


@pytest.fixture
def config_overrides():
    return {"flows": ["login", "set_password", "account"]}


def kept_on_this_host(response) -> bool:
    """A refused form (400) or a redirect here; never a 5xx, never a redirect elsewhere."""
    if response.status_code >= 500:
        return False
    return response.status_code == 400 or (response.status_code == 302 and on_this_host(response.headers["Location"]))


def test_the_browser_reading_of_a_location_is_what_the_tests_check():
    """The control case for on_this_host: the reported defect's Location is another host."""
    assert not on_this_host("//evil.example/x") and not on_this_host("/\t/evil.example/x")
    assert not on_this_host("/\\evil.example") and on_this_host("/tools") and on_this_host("/%09/evil.example")


@pytest.mark.parametrize("target", VALUES, ids=IDS)
def test_sign_in_never_leaves_this_host(client, actions, target):
    make_user("ana@example.com")
    page, token = actions.get_form("/login?next=" + quote(target, safe=""))
    carried = form_next(page.get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "login": "ana@example.com", "password": PASSWORD,
                                           "next": carried})
    assert response.status_code == 302 and on_this_host(response.headers["Location"]), response.headers.get(
        "Location")


@pytest.mark.parametrize("target", VALUES, ids=IDS)
def test_a_forged_sign_in_form_never_leaves_this_host(client, actions, target):
    """The same value posted directly, as a page on another site would."""
    make_user("ana@example.com")
    response = actions.login("ana@example.com", PASSWORD, next=target)
    assert kept_on_this_host(response), (response.status_code, response.headers.get("Location"))


@pytest.mark.parametrize("target", VALUES, ids=IDS)
def test_the_set_password_step_never_leaves_this_host(client, actions, target):
    make_user("ana@example.com", must_change_password=True)
    assert actions.login("ana@example.com", PASSWORD).status_code == 302
    page, token = actions.get_form("/password/set?next=" + quote(target, safe=""))
    carried = form_next(page.get_data(as_text=True))
    response = client.post("/password/set", data={"csrf_token": token, "password": OWN, "password_confirm": OWN,
                                                  "next": carried})
    assert response.status_code == 302 and on_this_host(response.headers["Location"]), response.headers.get(
        "Location")


@pytest.mark.parametrize("target", VALUES, ids=IDS)
def test_a_forged_set_password_form_never_leaves_this_host(client, actions, target):
    make_user("ana@example.com", must_change_password=True)
    assert actions.login("ana@example.com", PASSWORD).status_code == 302
    response = actions.submit("/password/set", {"password": OWN, "password_confirm": OWN, "next": target})
    assert kept_on_this_host(response), (response.status_code, response.headers.get("Location"))


@pytest.mark.parametrize("target", VALUES, ids=IDS)
def test_the_language_switch_never_leaves_this_host(actions, target):
    response = actions.submit("/language", {"language": "fr", "next": target}, form_path="/login")
    assert kept_on_this_host(response), (response.status_code, response.headers.get("Location"))


@pytest.mark.parametrize("path", ["/%09/evil.example/x", "/%0A/evil.example", "/%5Cevil.example/x",
                                  "/%E2%80%AE/evil.example", "/%2F/evil.example", "/x%09?a=%0A"],
                         ids=["tab", "newline", "backslash", "bidi", "encoded-slash", "query"])
def test_the_language_form_of_a_404_page_never_leaves_this_host(client, path):
    page = client.get(path)
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/language", data={"csrf_token": token, "language": "fr", "next": language_next(html)})
    assert response.status_code == 302 and on_this_host(response.headers["Location"]), response.headers.get(
        "Location")


@pytest.mark.parametrize(("target", "expected"), [
    ("/account", "/account"),
    ("/account?tab=password", "/account?tab=password"),
    ("/été", "/%C3%A9t%C3%A9"),
], ids=["path", "query", "non-ascii"])
def test_a_page_of_this_host_is_where_sign_in_returns(client, actions, target, expected):
    """The control case: a good `next` is followed, so the refusals above come from the check."""
    make_user("ana@example.com")
    page, token = actions.get_form("/login?next=" + quote(target, safe=""))
    response = client.post("/login", data={"csrf_token": token, "login": "ana@example.com", "password": PASSWORD,
                                           "next": form_next(page.get_data(as_text=True))})
    assert response.headers["Location"] == expected


def test_the_404_page_language_form_returns_to_the_page(client):
    page = client.get("/no-such-page?a=1")
    assert language_next(page.get_data(as_text=True)) == "/no-such-page?a=1"
