"""WebAuthn ceremonies with py_webauthn: security keys and passkeys as second factors, and
passkeys as a sign-in of their own.

The relying party is the issuer's host (RP ID) and origin. A ceremony's challenge lives in the
store under a random handle kept in the person's session, for CHALLENGE_TTL, and is taken once:
an answer is verified against the challenge of this browser's own ceremony, never one sent back.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authenticator_data
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import audit
from idp.extensions import db
from idp.models import MfaFactor, User
from idp.models.base import utcnow
from idp.models.mfa import FactorKind
from idp.security import mfa
from idp.store import put_json, take_json

CHALLENGE_KEY = "webauthn:"  # TTL: CHALLENGE_TTL; one ceremony's challenge, taken once
CHALLENGE_TTL = 300
TIMEOUT_MS = 120_000
MAX_CREDENTIAL_LENGTH = 64 * 1024  # a PublicKeyCredential's JSON; attestation statements are a few KiB
REGISTER, SECOND_FACTOR, PASSKEY = "register", "mfa", "passkey"


def relying_party() -> tuple[str, str]:
    """(RP ID, origin): the issuer's host, and its scheme and authority."""
    issuer = urlsplit(current_app.config["IDP"].issuer)
    return issuer.hostname or "localhost", f"{issuer.scheme}://{issuer.netloc}"


def _descriptors(factors: list[MfaFactor]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for factor in factors:
        transports = []
        for name in (factor.transports or "").split(","):
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue
        descriptors.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(factor.credential_id),
                                                         transports=transports or None))
    return descriptors


def _webauthn_factors(user: User) -> list[MfaFactor]:
    return [f for f in mfa.usable_factors(user) if f.kind == FactorKind.WEBAUTHN]


def _remember(purpose: str, challenge: bytes, user: User | None) -> None:
    handle = secrets.token_urlsafe(18)
    put_json(CHALLENGE_KEY + handle, {"challenge": bytes_to_base64url(challenge), "purpose": purpose,
                                      "user": user.id if user is not None else None}, CHALLENGE_TTL)
    session[f"webauthn_{purpose}"] = handle


def _take(purpose: str, user: User | None) -> bytes | None:
    handle = session.pop(f"webauthn_{purpose}", None)
    if not isinstance(handle, str):
        return None
    data = take_json(CHALLENGE_KEY + handle)
    if data is None or data.get("purpose") != purpose or data.get("user") != (user.id if user else None):
        return None
    return base64url_to_bytes(data["challenge"])


def registration_options(user: User) -> dict[str, Any]:
    """The options of navigator.credentials.create() for a new key of `user`, as JSON."""
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id, rp_name=current_app.config["IDP"].mfa.totp.issuer, user_name=user.email,
        user_id=user.public_id.encode(), user_display_name=user.name or user.email, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=_descriptors(_webauthn_factors(user)),
    )
    _remember(REGISTER, options.challenge, user)
    document = json.loads(options_to_json(options))
    # credProps tells whether the key made a discoverable credential (a passkey).
    document["extensions"] = {"credProps": True}
    return document


def _parse(credential: str) -> dict[str, Any] | None:
    if not credential or len(credential) > MAX_CREDENTIAL_LENGTH:
        return None
    try:
        document = json.loads(credential)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("id"), str) else None


def finish_registration(user: User, credential: str, name: str) -> tuple[MfaFactor, list[str] | None] | None:
    """Verify the browser's answer to `registration_options`: the new factor and, for a first
    factor, its recovery codes; None when the answer does not verify."""
    challenge = _take(REGISTER, user)
    document = _parse(credential)
    if challenge is None or document is None:
        audit.record("user.mfa_failed", user=user, method="webauthn", reason="registration_refused")
        return None
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(credential=document, expected_challenge=challenge,
                                                expected_rp_id=rp_id, expected_origin=origin)
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        audit.record("user.mfa_failed", user=user, method="webauthn", reason="registration_refused",
                     detail=str(exc)[:200])
        return None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.execute(db.select(MfaFactor.id).where(MfaFactor.credential_id == credential_id)).first():
        return None
    response = document.get("response") or {}
    transports = [t for t in response.get("transports") or [] if isinstance(t, str)][:8]
    props = (document.get("clientExtensionResults") or {}).get("credProps") or {}
    factor = MfaFactor(user_id=user.id, kind=FactorKind.WEBAUTHN, name=name, credential_id=credential_id,
                       public_key=bytes_to_base64url(verified.credential_public_key),
                       sign_count=verified.sign_count, transports=",".join(transports)[:200] or None,
                       discoverable=props.get("rk") is True, backup_eligible=verified.credential_device_type
                       == "multi_device", last_used_at=utcnow())
    return factor, mfa.record_new_factor(user, factor)


def authentication_options(purpose: str, user: User | None) -> dict[str, Any]:
    """The options of navigator.credentials.get(): `user`'s keys as a second factor, or any
    passkey of this site (a sign-in without a password, `user` None)."""
    rp_id, _origin = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id, timeout=TIMEOUT_MS, user_verification=UserVerificationRequirement.PREFERRED,
        allow_credentials=_descriptors(_webauthn_factors(user)) if user is not None else [])
    _remember(purpose, options.challenge, user)
    return json.loads(options_to_json(options))


@dataclass(frozen=True)
class Assertion:
    """A verified WebAuthn assertion: whose key, and whether the authenticator verified the person."""

    factor: MfaFactor
    user_verified: bool


def verify_assertion(purpose: str, user: User | None, credential: str, *,
                     require_user_verification: bool = False) -> Assertion | None:
    """Verify the browser's answer to `authentication_options(purpose, user)`.

    With `user` the key must be one of theirs (a second factor); without, the key names its owner
    through its user handle (a passkey). `require_user_verification`: a key that is to count as two
    factors on its own (after a passkey sign-in without one). A signature counter that went backwards means a cloned
    key: refused and audited. Failures count against the owner's throttle.
    """
    challenge = _take(purpose, user)
    document = _parse(credential)
    if challenge is None or document is None:
        if user is not None:
            mfa.count_failure(user, "webauthn", "no_ceremony")
        return None
    factor = db.session.execute(
        db.select(MfaFactor).where(MfaFactor.credential_id == document["id"][:1400],
                                   MfaFactor.kind == FactorKind.WEBAUTHN)).scalar_one_or_none()
    owner = factor.user if factor is not None else None
    if factor is None or (user is not None and factor.user_id != user.id) or owner is None or \
            "webauthn" not in current_app.config["IDP"].mfa.methods:
        if user is not None:
            mfa.count_failure(user, "webauthn", "unknown_key")
        else:
            audit.record("user.passkey_failed", reason="unknown_key")
        return None
    if user is None:
        handle = (document.get("response") or {}).get("userHandle")
        if not isinstance(handle, str) or base64url_to_bytes(handle) != owner.public_id.encode():
            audit.record("user.passkey_failed", user=owner, reason="user_handle")
            return None
    if mfa.is_locked(owner, "webauthn"):
        return None
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=document, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=base64url_to_bytes(factor.public_key),
            credential_current_sign_count=factor.sign_count, require_user_verification=require_user_verification)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        if _counter_went_back(document, factor):
            audit.record("mfa.sign_count_regressed", user=owner, factor=factor.public_id,
                         stored=factor.sign_count)
            mfa.count_failure(owner, "webauthn", "sign_count")
        else:
            mfa.count_failure(owner, "webauthn", "bad_assertion")
            current_app.logger.info("webauthn assertion refused: %s", str(exc)[:200])
        return None
    factor.sign_count = verified.new_sign_count
    factor.last_used_at = utcnow()
    audit.record("user.mfa_verified", user=owner, method="webauthn", factor=factor.public_id,
                 user_verified=verified.user_verified)
    return Assertion(factor, verified.user_verified)


def _counter_went_back(document: dict[str, Any], factor: MfaFactor) -> bool:
    try:
        data = parse_authenticator_data(base64url_to_bytes(document["response"]["authenticatorData"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return (data.sign_count or factor.sign_count) > 0 and data.sign_count <= factor.sign_count
