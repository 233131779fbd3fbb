"""Rotating secret_key: the previous secret as a fallback, `idp secrets reseal`, then the new one alone.

Each test makes applications on the same database with different secrets (make_app), as the
nodes of a rotation would be: A before, B with the fallback A, B alone after the reseal.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from idp.cli import main
from idp.extensions import db
from idp.models import MfaFactor, SigningKey, User
from idp.security import mfa
from idp.security.sealing import UnsealError
from idp.store import get_store
from tests.conftest import SECRET_KEY, base_config
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import authorize, browser, run_cli
from tests.integration.flows.mfa_helpers import add_totp, code_at, mfa_config, post_code
from tests.integration.oidc.conftest import API_SECRET, basic, verify_jwt

OLD = SECRET_KEY  # the secret every test application has by default
NEW = "the-new-secret-key-after-rotation-9876543210"
API_CLIENT = {"client_id": "api", "secret": API_SECRET, "grant_types": ["client_credentials"]}


def _node(make_app: Any, **overrides: Any) -> Any:
    return make_app(clients=[API_CLIENT], **overrides)


def _token(app: Any) -> tuple[int, Any]:
    """A client-credentials access token from `app`, checked against that app's /jwks."""
    client = app.test_client()
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=basic("api", API_SECRET))
    if response.status_code != 200:
        return response.status_code, response
    return 200, verify_jwt(client, response.get_json()["access_token"])


def _kids(app: Any) -> set[str]:
    return {key["kid"] for key in app.test_client().get("/jwks").get_json()["keys"]}


def _reseal(node: Any, backend: Any, tmp_path: Any, **secrets: Any) -> Any:
    """`idp secrets reseal` with these secrets, run beside `node` (whose context run_cli needs)."""
    path = tmp_path / "rotation.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, **secrets)))
    with node.app_context():
        return run_cli(["--config", str(path), "secrets", "reseal"])


def _sealed_values() -> dict[str, str | None]:
    keys = {row.kid: row.private_jwk for row in db.session.scalars(select(SigningKey))}
    seeds = {row.public_id: row.totp_secret for row in db.session.scalars(select(MfaFactor))}
    return keys | seeds


def _before_rotation(make_app: Any) -> tuple[Any, int, str, list[str], set[str]]:
    """Under the old secret alone: signing keys made, a TOTP factor and recovery codes issued."""
    old = _node(make_app)
    assert _token(old)[0] == 200
    with old.test_request_context():
        user = make_user("ana@example.com")
        seed = add_totp(user)
        codes = mfa.issue_recovery_codes(user, notify=False)
        db.session.commit()
        user_id = user.id
    return old, user_id, seed, codes, _kids(old)


def test_a_rotation_from_fallback_to_reseal(make_app, backend, tmp_path):
    old, user_id, seed, codes, kids = _before_rotation(make_app)

    # The new secret with the old one as fallback: the same keys sign and are published, the
    # authenticator app and the recovery codes issued before still work.
    rotating = _node(make_app, secret_key=NEW, secret_key_fallbacks=[OLD])
    assert _kids(rotating) == kids
    status, claims = _token(rotating)
    assert status == 200 and claims["client_id"] == "api"
    with rotating.test_request_context():
        user = db.session.get(User, user_id)
        assert mfa.verify_totp(user, code_at(seed)) is not None
        assert mfa.use_recovery_code(user, codes[0])
        assert not mfa.use_recovery_code(user, codes[0])  # still spent once
        assert mfa.recovery_codes_left(user) == len(codes) - 1
        db.session.commit()

    result = _reseal(rotating, backend, tmp_path, secret_key=NEW, secret_key_fallbacks=[OLD])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "Signing keys: 2 resealed, 0 already under the current secret.",
        "TOTP seeds: 1 resealed, 0 already under the current secret.",
    ]
    again = _reseal(rotating, backend, tmp_path, secret_key=NEW, secret_key_fallbacks=[OLD])
    assert again.output.splitlines()[:2] == [
        "Signing keys: 0 resealed, 2 already under the current secret.",
        "TOTP seeds: 0 resealed, 1 already under the current secret.",
    ]

    # The new secret alone: keys and seeds open. Recovery codes issued before match no more
    # (README: the fallback stays until they are renewed); a new set does.
    after = _node(make_app, secret_key=NEW)
    assert _kids(after) == kids
    assert _token(after)[0] == 200
    with after.test_request_context():
        user = db.session.get(User, user_id)
        assert mfa.verify_totp(user, code_at(seed, 1)) is not None
        assert not mfa.use_recovery_code(user, codes[1])
        renewed = mfa.issue_recovery_codes(user, notify=False)
        assert mfa.use_recovery_code(user, renewed[0])
        db.session.commit()
    # The old secret alone can no longer open them: they were all moved.
    with old.app_context():
        with pytest.raises(UnsealError):
            mfa.reseal_totp_seeds()
        db.session.rollback()


def test_codes_issued_during_the_rotation_are_under_the_new_secret(make_app):
    _old, user_id, _seed, _codes, _kids = _before_rotation(make_app)
    rotating = _node(make_app, secret_key=NEW, secret_key_fallbacks=[OLD])
    with rotating.test_request_context():
        renewed = mfa.issue_recovery_codes(db.session.get(User, user_id), notify=False)
        db.session.commit()
    after = _node(make_app, secret_key=NEW)
    with after.test_request_context():
        assert mfa.use_recovery_code(db.session.get(User, user_id), renewed[0])
        db.session.commit()


def test_a_pending_enrollment_and_an_open_form_survive_the_rotation(make_app):
    old, user_id, _seed, _codes, _kids = _before_rotation(make_app)
    rotating = _node(make_app, secret_key=NEW, secret_key_fallbacks=[OLD])
    with old.test_request_context():
        offered = mfa.start_totp_enrollment(db.session.get(User, user_id))
        pending = get_store().get(f"{mfa.TOTP_ENROLL_KEY}{user_id}")
        csrf = generate_csrf()
        raw_csrf = dict(_session()).get("csrf_token")
    with rotating.test_request_context():
        # Each test application has a store of its own: the pending seed is carried over as Redis
        # would share it between nodes.
        get_store().put(f"{mfa.TOTP_ENROLL_KEY}{user_id}", pending, mfa.ENROLL_TTL)
        user = db.session.get(User, user_id)
        # Only the factor enrolled now is checked below (the one of before would need the reseal).
        db.session.execute(MfaFactor.__table__.delete().where(MfaFactor.user_id == user_id))
        assert mfa.start_totp_enrollment(user).secret == offered.secret
        factor, _ = mfa.confirm_totp_enrollment(user, code_at(offered.secret), "Tablet")
        public_id = factor.public_id
        db.session.commit()
        _session()["csrf_token"] = raw_csrf
        validate_csrf(csrf)  # a form opened before the rotation is still accepted
    # Sealed under the new secret: it opens with the new secret alone.
    after = _node(make_app, secret_key=NEW)
    with after.test_request_context():
        assert mfa.verify_totp(db.session.get(User, user_id), code_at(offered.secret, 1)).public_id == public_id
        _session()["csrf_token"] = raw_csrf
        with pytest.raises(ValidationError):
            validate_csrf(csrf)  # once the fallback is gone: "this form has expired", reload


def _session() -> Any:
    from flask import session

    return session


def test_without_the_fallback_sealed_values_give_a_503_and_reseal_changes_nothing(make_app, backend, tmp_path,
                                                                                   caplog):
    _old, user_id, seed, _codes, _kids = _before_rotation(make_app)
    with _old.app_context():
        before = _sealed_values()

    forgotten = _node(make_app, secret_key=NEW)
    client = forgotten.test_client()
    with caplog.at_level(logging.ERROR, logger="idp.web.errors"):
        for response in (client.get("/jwks"),
                         client.post("/token", data={"grant_type": "client_credentials"},
                                     headers=basic("api", API_SECRET))):
            assert response.status_code == 503
            assert response.get_json()["error"] == "temporarily_unavailable"
            assert response.headers["Retry-After"]
    assert "secret_key_fallbacks" in caplog.text and "Traceback" not in caplog.text
    with forgotten.test_request_context(), pytest.raises(UnsealError):
        mfa.verify_totp(db.session.get(User, user_id), code_at(seed))

    result = _reseal(forgotten, backend, tmp_path, secret_key=NEW)
    assert result.exit_code == 1
    assert "opens under none of the 1 configured secret(s)" in result.output
    assert "Nothing was changed." in result.output
    with forgotten.app_context():
        assert _sealed_values() == before


def test_a_totp_code_at_sign_in_without_the_fallback_is_a_503_page(make_app):
    settings = mfa_config(["company_admins"])
    old = make_app(**settings)
    with old.app_context():
        user = make_user("boss@example.com", locale="en")
        make_membership(user, make_company("C-1", name="Alpha"), role="order", is_admin=True)
        seed = add_totp(user)
    forgotten = make_app(**settings, secret_key=NEW)
    actions = browser(forgotten)
    assert actions.login("boss@example.com", PASSWORD).status_code == 302
    location = authorize(actions.client).headers["Location"]
    while not location.startswith("/mfa"):
        location = actions.client.get(location).headers["Location"]
    response = post_code(actions.client, location, code=code_at(seed))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "temporarily unavailable" in response.get_data(as_text=True)


def _check(tmp_path: Any, document: dict[str, Any]) -> list[str]:
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(document))
    return CliRunner().invoke(main, ["check-config", str(path)]).output.splitlines()[1:]


@pytest.mark.parametrize(("fallbacks", "errors"), [
    (["short"], ["secret_key_fallbacks[0]: String should have at least 32 characters"]),
    ([NEW, OLD], ["secret_key_fallbacks[1]: the same as secret_key (put the previous secret here)"]),
    ([NEW, NEW], ["secret_key_fallbacks[1]: listed twice"]),
    ("${IDP_TEST_UNSET_OLD_SECRET}", ["secret_key_fallbacks: environment variable IDP_TEST_UNSET_OLD_SECRET is not "
                                      "set", "secret_key_fallbacks: Input should be a valid list"]),
    (["${IDP_TEST_UNSET_OLD_SECRET}"], ["secret_key_fallbacks[0]: environment variable IDP_TEST_UNSET_OLD_SECRET "
                                        "is not set",
                                        "secret_key_fallbacks[0]: String should have at least 32 characters"]),
], ids=["too-short", "same-as-current", "twice", "not-a-list", "unset-variable"])
def test_check_config_validates_the_fallbacks(tmp_path, fallbacks, errors):
    document = {"issuer": "https://login.example.com", "secret_key": OLD, "secret_key_fallbacks": fallbacks}
    assert [line.strip() for line in _check(tmp_path, document)] == errors
