"""Every route of the application, fed hostile values, answers a page or an error, never a 5xx,
and redirects only to this host or to a client's registered address.

The routes come from the URL map of an application with every flow enabled, and the parameter
names from the code itself (every form field, every `request.args/form/values.get("...")`,
every `name="..."` of the templates) plus the protocol's: a new route or field is fuzzed
without an edit here. Each route is called by an anonymous visitor, a member, a company admin
and an operator, POSTs with a valid CSRF token, so that the values reach the views.

Hypothesis is a generator here (derandomized, so every run sends the same requests): every 5xx
and every redirect elsewhere is collected, and the test fails at the end listing them all, one
per route, rather than stopping at the first.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from wtforms import Form as WTForm
from wtforms.fields import FieldList, FormField
from wtforms.fields.core import UnboundField

import idp
from idp.config import ThrottlingConfig
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import browser
from tests.integration.web.helpers import ALL_FLOWS, CLIENTS, on_this_host, path_of, routes, rows_a_route_can_name

PACKAGE = Path(idp.__file__).parent
# Every limit out of the way: a 429 would stop the values before the view.
UNTHROTTLED = {name: "100000 per minute" for name, field in ThrottlingConfig.model_fields.items()
               if field.annotation is str}
PROTOCOL_PARAMETERS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age", "ui_locales",
    "login_hint", "id_token_hint", "acr_values", "claims", "claims_locales", "display", "response_mode",
    "code_challenge", "code_challenge_method", "request", "request_uri", "registration", "grant_type", "code",
    "code_verifier", "refresh_token", "token", "token_type_hint", "client_secret", "client_assertion",
    "client_assertion_type", "subject_token", "subject_token_type", "audience", "resource",
    "post_logout_redirect_uri", "access_token", "dpop",
]
EXAMPLES_PER_ROUTE = 2  # per route and per person: about 650 requests in all, well under a minute
# The protocol's routes take the most parameters, from anyone: more examples there.
PROTOCOL_BLUEPRINTS = ("oidc", "oidc_api", "logout")
EXAMPLES_PER_PROTOCOL_ROUTE = 6


@pytest.fixture
def config_overrides():
    return {"flows": ALL_FLOWS, "clients": CLIENTS, "throttling": UNTHROTTLED}


def _form_classes(base: type) -> list[type]:
    found, todo = [], [base]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _field_names(form_class: type, prefix: str = "") -> set[str]:
    names = set()
    for name in dir(form_class):
        unbound = getattr(form_class, name, None)
        if not isinstance(unbound, UnboundField):
            continue
        names.add(prefix + name)
        if unbound.field_class is FieldList and unbound.args and isinstance(unbound.args[0], UnboundField):
            entry = unbound.args[0]
            if entry.field_class is FormField and entry.args:
                names |= _field_names(entry.args[0], f"{prefix}{name}-0-")
    return names


def parameter_names() -> list[str]:
    """What the code reads from requests: form fields, request.*.get names, template inputs."""
    names = set(PROTOCOL_PARAMETERS)
    for form_class in _form_classes(WTForm):
        if form_class.__module__.startswith("idp."):
            names |= _field_names(form_class)
    read = re.compile(r"""request\.(?:args|form|values)\.get\(\s*["']([\w-]+)["']""")
    for source in PACKAGE.rglob("*.py"):
        names |= set(read.findall(source.read_text()))
    named = re.compile(r"""name=["']([\w-]+)["']""")
    for template in (PACKAGE / "templates").rglob("*.html"):
        names |= set(named.findall(template.read_text()))
    names.discard("csrf_token")  # always sent, valid
    return sorted(names)


# Hostile values, each already percent-encoded for a query string or a form body.
CURATED = [
    "\x00", "\t", "\n", "\r\n", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "\u200b", "/\t/evil.example/x",
    "/\n/x", "//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "²", "³", "٣",
    "１２", "-1", "0", "00", "1e9", "NaN", "9" * 20, "9" * 5000, str(2**63), str(2**31), "-" + "9" * 30, "a" * 5000,
    "[" * 200 + "]" * 200, "{" * 200, '{"a":' * 50, "[]", "{}", "null", "true", "%", "%%", "../../etc/passwd",
    "<script>", "' OR 1=1 --", "x@y", "@", "a@b@c", "Jürgen.Straße@example.com", "İ", "ﬀ", "\U0001f600",
    "¹²", "3²", "½", "Ⅻ", "٣٤", "+1", " 1", "1 ", "0x10", "1_000",
]
RAW_ENCODINGS = ["%FF", "%C3%28", "%00", "%", "%G1", "%E2%80%AE", "%ED%A0%80", "%C0%AF", "%F4%90%80%80", "%E2%82",
                 "%C3", "%0A", "%09", "%2F%2Fevil.example", "%5C"]
text_values = st.one_of(
    st.sampled_from(CURATED),
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Nd", "No", "Nl"]), max_size=12),
    st.text(max_size=40),
    st.integers().map(str),
    st.integers(min_value=1, max_value=300).map(lambda depth: "[" * depth + "]" * depth),
)
encoded_values = st.one_of(
    text_values.map(lambda value: quote(value, safe="")),
    st.lists(st.one_of(st.sampled_from(RAW_ENCODINGS), text_values.map(lambda value: quote(value, safe=""))),
             min_size=1, max_size=3).map("".join),
)
authorizations = st.one_of(
    st.none(),
    st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
    st.sampled_from(["Basic", "Basic %%%", "Bearer", "Bearer \u00ff", "Bearer " + "x" * 5000,
                     "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
                     "Basic " + base64.b64encode("é:x".encode("latin-1")).decode()]),
)
# Path values that are not the world's: huge and Unicode numbers, controls, encodings.
hostile_path_values = st.one_of(
    st.sampled_from(["99999999999999999999", str(2**31), str(2**63), "9" * 5000, "²", "٣", "-1", "0", "%00", "%FF",
                     "%0A", "%09", "..", "%2E%2E", "a" * 3000, "%C3%28"]),
    text_values.filter(bool).map(lambda value: quote(value, safe="")),
)


@pytest.fixture
def world(app):
    """A company with an admin, a member, a second member to act on, a pending access request and
    an invitation; an account request; an operator. Each person signed in in their own browser."""
    company = make_company("C-1", name="Fuzz & Co")
    admin = make_user("admin@example.com", locale="en")
    make_membership(admin, company, is_admin=True)
    member = make_user("member@example.com", locale="en")
    make_membership(member, company)
    target = make_user("target@example.com", locale="en")
    make_membership(target, company)
    operator = make_user("operator@example.com", locale="en", is_operator=True)
    access_request, account_request, invitation = rows_a_route_can_name(app, company, admin)
    people = {"anonymous": browser(app)}
    for name, user in (("member", member), ("admin", admin), ("operator", operator)):
        people[name] = browser(app)
        assert people[name].login(user.email, PASSWORD).status_code == 302
    values = {"company_id": company.public_id, "user_id": target.public_id, "invitation_id": str(invitation.id),
              "request_id": access_request.public_id, "key_id": "k" * 22, "factor_id": "f" * 22}
    operator_values = {**values, "request_id": account_request.public_id}
    return SimpleNamespace(people=people, values=values, operator_values=operator_values)


def _routes(app) -> list[tuple[str, Any]]:
    """Every route; those that end the session last, so that the others run signed in."""
    return sorted(routes(app), key=lambda route: (route[1].endpoint == "logout.logout", route[1].rule, route[0]))


def _registered(location: str) -> bool:
    """A client's own registered address (an authorization answer, a post-logout redirect)."""
    address = re.split(r"[?#]", location, maxsplit=1)[0]
    return any(address in client.get(key, []) for client in CLIENTS
               for key in ("redirect_uris", "post_logout_redirect_uris"))


def _is_protocol(rule: Any) -> bool:
    return rule.endpoint.partition(".")[0] in PROTOCOL_BLUEPRINTS


def _known_values(world: Any, rule: Any) -> dict[str, str]:
    return world.operator_values if rule.endpoint.startswith("admin_operator.") else world.values


def _own_names(world: Any, person: str, rule: Any) -> list[str]:
    """The fields of the route's own page as this person sees it, and the protocol's for its routes."""
    names = {"next", "interaction"}
    if _is_protocol(rule):
        names |= set(PROTOCOL_PARAMETERS)
    if "GET" in rule.methods and rule.endpoint != "static":
        known = _known_values(world, rule)
        path = path_of(rule, {argument: quote(known.get(argument, "x"), safe="") for argument in rule.arguments})
        response = world.people[person].client.get(path)
        names |= set(re.findall(r"""name=["']([\w-]+)["']""", response.get_data(as_text=True)))
        response.close()
    names.discard("csrf_token")
    return sorted(names)


def test_hostile_values_get_no_5xx_and_no_redirect_elsewhere(app, world):
    failures: dict[tuple[str, str], str] = {}
    tokens = {name: csrf_from(actions.client.get("/login").get_data(as_text=True))
              for name, actions in world.people.items()}
    every_name = st.sampled_from(parameter_names())

    def parameters(own: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
        # A few names, mostly the route's own, each with its value; or one value in every own field.
        name = st.one_of(st.sampled_from(own), every_name)
        return st.one_of(st.lists(st.tuples(name, encoded_values), max_size=4),
                         encoded_values.map(lambda value: [(field, value) for field in own]))

    def call(person: str, method: str, rule: Any, data: st.DataObject, own: list[str]) -> None:
        known = _known_values(world, rule)
        chosen = {}
        for argument in rule.arguments:
            valid = st.just(quote(known[argument], safe="")) if argument in known else hostile_path_values
            chosen[argument] = data.draw(st.one_of(valid, hostile_path_values) if argument != "filename"
                                         else st.sampled_from(["idp.css", "%00", "..%2F..%2Fetc%2Fpasswd"]))
        query = data.draw(parameters(own))
        body = data.draw(parameters(own)) if method == "POST" else []
        authorization = data.draw(authorizations)
        url = path_of(rule, chosen) + ("?" + "&".join(f"{name}={value}" for name, value in query) if query else "")
        headers = {"Authorization": authorization} if authorization else {}
        encoded_body = "&".join([f"csrf_token={tokens[person]}"] + [f"{name}={value}" for name, value in body])
        client = world.people[person].client
        response = client.open(url, method=method, headers=headers, data=encoded_body.encode("ascii"),
                               content_type="application/x-www-form-urlencoded") if method == "POST" else \
            client.open(url, method=method, headers=headers)
        response.close()
        request = f"as {person}: {url[:300]} body={encoded_body[:300]} authorization={(authorization or '')[:80]}"
        if response.status_code >= 500:
            failures.setdefault((method, rule.endpoint), f"answered {response.status_code} {request}")
        location = response.headers.get("Location")
        if location is not None and not (on_this_host(location) or _registered(location)):
            failures.setdefault((method, rule.endpoint), f"sent to {location[:200]} {request}")

    def fuzz(examples: int) -> Any:
        return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                        phases=[Phase.explicit, Phase.generate],
                        suppress_health_check=list(HealthCheck))(given(data=st.data())(call))

    fuzz_page, fuzz_protocol = fuzz(EXAMPLES_PER_ROUTE), fuzz(EXAMPLES_PER_PROTOCOL_ROUTE)
    for person in world.people:
        own_names: dict[str, list[str]] = {}
        for method, rule in _routes(app):
            if rule.rule not in own_names:
                own_names[rule.rule] = _own_names(world, person, rule)
            run = fuzz_protocol if _is_protocol(rule) else fuzz_page
            run(person, method, rule, own=own_names[rule.rule])
    assert not failures, "\n".join(f"{method} {endpoint} {line}"
                                   for (method, endpoint), line in sorted(failures.items()))
