"""The security team's MFA policy: its selectors as the configuration checks them, and whom they cover."""

from types import SimpleNamespace

import pytest

from idp.config import ConfigError, parse_config
from idp.security.mfa.policy import (
    covered_by_policy,
    has_second_factor,
    requested_by_client,
    required_by_policy,
)

SHOP = {"client_id": "shop", "secret": "s" * 20, "redirect_uris": ["https://shop.example.com/cb"],
        "roles": ["order"]}


def config(required_for, **extra):
    return parse_config({"issuer": "https://login.example.com", "secret_key": "s" * 40, "flows": ["login", "mfa"],
                         "clients": [SHOP], "mfa": {"required_for": required_for}, **extra}, {})


def errors_of(required_for, **extra):
    with pytest.raises(ConfigError) as caught:
        config(required_for, **extra)
    return caught.value.errors


def test_unknown_selectors_roles_and_clients_are_errors_with_their_key_paths():
    assert errors_of(["operator", "role:buyer", "client:erp", "role:"]) == [
        "mfa.required_for[0]: unknown selector 'operator'; use operators, company_admins, role:ROLE, company:ID "
        "or client:CLIENT_ID",
        "mfa.required_for[3]: unknown selector 'role:'; use operators, company_admins, role:ROLE, company:ID "
        "or client:CLIENT_ID",
    ]  # the cross-checks of roles and clients follow once every selector is well formed
    assert errors_of(["role:buyer", "client:erp"]) == [
        "mfa.required_for[0]: unknown role 'buyer'",
        "mfa.required_for[1]: unknown client 'erp'",
    ]


def test_a_policy_without_the_mfa_flow_is_an_error():
    assert errors_of(["operators"], flows=["login"]) == ["mfa.required_for: needs the mfa flow in flows"]


def test_methods_and_totp_settings_are_checked():
    assert "mfa.methods: needs at least one method (totp, webauthn)" in errors_of([], mfa={"methods": []})
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": "https://login.example.com", "secret_key": "s" * 40,
                      "mfa": {"totp": {"digits": 7, "skew": 5}}}, {})
    assert [line.split(":")[0] for line in caught.value.errors] == ["mfa.totp.digits", "mfa.totp.skew"]


def person(operator=False):
    return SimpleNamespace(is_operator=operator)


def member(role="order", admin=False, company="C-1"):
    return SimpleNamespace(role=role, is_admin=admin, company=SimpleNamespace(public_id=f"p-{company}",
                                                                             external_id=company))


@pytest.mark.parametrize(("selector", "who", "memberships", "company", "client", "expected"), [
    ("operators", person(True), [], None, None, True),
    ("operators", person(), [member(admin=True)], "p-C-1", "shop", False),
    ("company_admins", person(), [member(), member(admin=True, company="C-2")], "p-C-1", "shop", True),
    ("company_admins", person(), [member()], "p-C-1", "shop", False),
    ("role:order", person(), [member("order")], "p-C-1", "shop", True),
    ("role:order", person(), [member("order"), member("prices_only", company="C-2")], "p-C-2", "shop", False),
    ("company:C-2", person(), [member(), member(company="C-2")], "p-C-2", None, True),
    ("company:C-2", person(), [member(), member(company="C-2")], "p-C-1", None, False),
    ("client:shop", person(), [], None, "shop", True),
    ("client:shop", person(), [], None, "other", False),
])
def test_whom_each_selector_covers(selector, who, memberships, company, client, expected):
    assert required_by_policy(config([selector]), who, memberships, company, client) is expected


def test_covered_means_some_sign_in_could_ask():
    assert covered_by_policy(config(["role:order"]), person(), [member("prices_only"), member("order")])
    assert not covered_by_policy(config(["role:order"]), person(), [member("prices_only")])
    # A portal that admits only the role "order" covers its members, not the others.
    assert covered_by_policy(config(["client:shop"]), person(), [member("order")])
    assert not covered_by_policy(config(["client:shop"]), person(), [member("prices_only")])
    assert not covered_by_policy(config([]), person(True), [member(admin=True)])


@pytest.mark.parametrize(("amr", "expected"), [
    (["pwd"], False), (["hwk"], False), (["pwd", "otp", "mfa"], True), (["hwk", "mfa"], True),
    (["pwd", "otp"], True), ([], False),
])
def test_a_second_factor_is_read_from_the_methods(amr, expected):
    assert has_second_factor(amr) is expected


@pytest.mark.parametrize(("params", "expected"), [
    ({}, False),
    ({"acr_values": "urn:portail:acr:pwd urn:portail:acr:mfa"}, True),
    ({"acr_values": "urn:portail:acr:pwd"}, False),
    ({"claims": '{"id_token": {"acr": {"essential": true, "values": ["urn:portail:acr:mfa"]}}}'}, True),
    ({"claims": '{"id_token": {"acr": {"essential": true, "value": "urn:portail:acr:mfa"}}}'}, True),
    ({"claims": '{"id_token": {"acr": {"values": ["urn:portail:acr:mfa"]}}}'}, False),
    ({"claims": '{"userinfo": {"acr": {"essential": true, "values": ["urn:portail:acr:mfa"]}}}'}, True),
    ({"claims": "not json"}, False),
])
def test_what_a_client_may_ask_for(params, expected):
    assert requested_by_client(params) is expected
