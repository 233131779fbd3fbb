"""Malformed protocol requests get a clear page or a JSON error, never a 500."""

from __future__ import annotations

import base64
import io

import pytest

from tests.integration.oidc.conftest import authorize_params, query


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("get", "/authorize", {}),
    ("get", "/authorize?client_id=web", {}),
    ("get", "/authorize?response_type=code&client_id=web&redirect_uri=%%%", {}),
    ("post", "/authorize", {"data": {"response_type": "code", "client_id": "web"}}),
    ("get", "/authorize/resume/" + "x" * 100, {}),
    ("get", "/token", {}),
    ("post", "/token", {}),
    ("post", "/token", {"data": {"grant_type": "authorization_code"}, "headers": {"Authorization": "Basic %%%"}}),
    ("post", "/token", {"data": {"grant_type": "authorization_code"}, "headers": {"Authorization": "Basic ZGQ="}}),
    ("post", "/token", {"data": "{not json", "content_type": "application/json"}),
    ("post", "/token", {"data": {"grant_type": "refresh_token", "client_id": "mobile"}}),
    ("get", "/userinfo", {"headers": {"Authorization": "Bearer a.b.c"}}),
    ("get", "/userinfo", {"headers": {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}}),
    ("post", "/userinfo", {"data": "x", "content_type": "text/plain"}),
    ("post", "/revoke", {"data": {"token": "a.b.c", "client_id": "mobile"}}),
    ("post", "/introspect", {}),
    ("get", "/logout?id_token_hint=a.b.c", {}),
    ("get", "/logout?post_logout_redirect_uri=https://web.example.com/", {}),
    ("post", "/logout", {"data": {"id_token_hint": "x"}}),
    ("get", "/consent", {}),
    ("get", "/consent?interaction=nope", {}),
], ids=lambda value: value if isinstance(value, str) else None)
def test_never_a_server_error(client, method, path, kwargs):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if path.startswith(("/token", "/userinfo", "/revoke", "/introspect")):
        assert response.is_json


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


MALFORMED_BASIC = {
    "non-utf8-secret": _basic(b"web:\xe9"),
    "non-utf8-id": _basic(b"\xff\xfe:secret"),
    "no-colon": _basic(b"web"),
    "not-base64": {"Authorization": "Basic %%%"},
    "not-ascii": {"Authorization": "Basic d2ViOnNlY3JldA\u00e9"},
}
CLIENT_ENDPOINTS = {
    "/token": {"grant_type": "client_credentials"},
    "/introspect": {"token": "x"},
    "/revoke": {"token": "x"},
}


@pytest.mark.parametrize("path", CLIENT_ENDPOINTS)
@pytest.mark.parametrize("headers", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
@pytest.mark.parametrize("way", ["urlencoded", "multipart"])
def test_malformed_basic_credentials_are_invalid_request(client, path, headers, way):
    """Both ways into /token: the early WSGI path (urlencoded) and the Flask view (multipart)."""
    data = dict(CLIENT_ENDPOINTS[path])
    if way == "multipart":
        data["nothing"] = (io.BytesIO(b""), "empty.txt")
    response = client.post(path, data=data, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"error": "invalid_request", "error_description": "Invalid 'Authorization' header."}


@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000, "\u0661\u0662"], ids=["superscript", "huge", "arabic-indic"])
def test_a_content_length_int_would_misread_goes_to_flask(client, value):
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           environ_overrides={"CONTENT_LENGTH": value})
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json


@pytest.mark.parametrize(("extra", "description"), [
    ({"claims": "[" * 1000}, "Invalid 'claims' parameter."),
    ({"claims": '{"a":' * 1000 + "null" + "}" * 1000}, "Invalid 'claims' parameter."),
    ({"claims": '{"id_token": {"email": ' + "[" * 1000 + "]" * 1000 + "}}"}, "Invalid 'claims' parameter."),
    ({"claims": '{"userinfo": ["email"]}'}, "Invalid 'claims' parameter."),
    ({"max_age": "\u00b2"}, "Invalid 'max_age' parameter."),
    ({"max_age": "\u0661"}, "Invalid 'max_age' parameter."),
    ({"max_age": "9" * 5000}, "Invalid 'max_age' parameter."),
    ({"max_age": "-1"}, "Invalid 'max_age' parameter."),
    ({"max_age": " 5"}, "Invalid 'max_age' parameter."),
], ids=["claims-nested-arrays", "claims-nested-objects", "claims-nested-member", "claims-part-not-object",
        "max-age-superscript", "max-age-arabic-indic", "max-age-huge", "max-age-negative", "max-age-space"])
def test_bad_values_while_signed_in_go_back_as_invalid_request(flow, user, extra, description):
    flow.code_for("ada")  # signed in: the steps read max_age
    params = authorize_params(**extra)
    response = flow.authorize(**params)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    result = query(response.headers["Location"])
    assert (result["error"], result["error_description"], result["state"]) == (
        "invalid_request", description, params["state"])


def test_max_age_is_read_in_its_plain_form(flow, user):
    flow.code_for("ada")
    code, _ = flow.code_for(None, max_age="000100000")
    assert flow.exchange(code).status_code == 200
    response = flow.authorize(**authorize_params(max_age="000"))  # zero: a sign-in now
    assert response.headers["Location"].startswith("/login?")


@pytest.mark.parametrize("response_type", ["J\u00fcrgen", "\u00b9\u00b2", "\u0663", 'co"de', "co\\de"],
                         ids=["latin", "superscript", "arabic-indic", "quote", "backslash"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_response_type_authlib_cannot_describe_is_a_page(client, method, response_type):
    # Authlib raised ValueError building the error's description from such a value: a 500.
    params = {"response_type": response_type, "client_id": "web",
              "redirect_uri": "https://web.example/callback", "scope": "openid"}
    if method == "get":
        response = client.get("/authorize", query_string=params)
    else:
        response = client.post("/authorize", data=params)
    assert response.status_code == 400
    assert b"unsupported_response_type" in response.data
