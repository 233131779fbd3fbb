"""The pure company decisions: which company a sign-in acts for, and who a portal admits."""

from types import SimpleNamespace

import pytest

from idp.companies import chosen_company_id, find_membership, role_allowed


def membership(public_id, external_id, role="order"):
    return SimpleNamespace(company=SimpleNamespace(public_id=public_id, external_id=external_id), role=role)


ALPHA = membership("pub-alpha", "C-1")
BETA = membership("pub-beta", "C-2", role="prices_only")


def interaction(done=None, **params):
    return SimpleNamespace(done=done or {}, params=params)


@pytest.mark.parametrize(
    ("the_interaction", "memberships", "expected"),
    [
        (interaction({"company": {"company_id": "pub-beta"}}, company="C-1"), [ALPHA, BETA], "pub-beta"),
        (interaction(company="C-2"), [ALPHA, BETA], "pub-beta"),
        (interaction(company="pub-alpha"), [ALPHA, BETA], "pub-alpha"),
        (interaction(), [ALPHA], "pub-alpha"),
        (interaction(), [ALPHA, BETA], None),
        (interaction(), [], None),
        (interaction(company="C-9"), [ALPHA, BETA], None),
        # A recorded choice the person is no longer a member of counts for nothing.
        (interaction({"company": {"company_id": "pub-gone"}}), [ALPHA, BETA], None),
        (interaction({"company": {"company_id": "pub-gone"}}), [ALPHA], "pub-alpha"),
    ],
    ids=["done-wins", "hint-external", "hint-public", "single", "several", "none", "foreign-hint", "stale-done",
         "stale-done-single"],
)
def test_chosen_company_id(the_interaction, memberships, expected):
    assert chosen_company_id(the_interaction, memberships) == expected


def test_find_membership_matches_either_identifier():
    assert find_membership([ALPHA, BETA], "C-2") is BETA
    assert find_membership([ALPHA, BETA], "pub-alpha") is ALPHA
    assert find_membership([ALPHA, BETA], "") is None and find_membership([ALPHA], None) is None


@pytest.mark.parametrize(
    ("roles", "member", "expected"),
    [(None, None, True), (None, ALPHA, True), (["order"], ALPHA, True), (["order"], BETA, False),
     (["order"], None, False), ([], ALPHA, False)],
    ids=["no-roles-no-company", "no-roles", "listed", "not-listed", "no-company", "empty-list"],
)
def test_role_allowed(roles, member, expected):
    assert role_allowed(roles, member) is expected
