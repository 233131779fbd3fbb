"""The software authenticator of the integration tests (tests.webauthn_authenticator), proven against py_webauthn."""

import json

import pytest
import webauthn
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
)

from tests.webauthn_authenticator import InvalidStateError, SoftAuthenticator, b64url

RP_ID = "localhost"
ORIGIN = "http://localhost:5000"
USER_ID = b"user-handle-0001"


def as_json(options) -> dict:
    return json.loads(webauthn.options_to_json(options))


def register(authenticator: SoftAuthenticator, *, resident_key=None, exclude=None, **verify_kwargs):
    options = webauthn.generate_registration_options(
        rp_id=RP_ID,
        rp_name="Test IdP",
        user_name="alice@example.com",
        user_id=USER_ID,
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=resident_key),
        exclude_credentials=exclude,
    )
    response = authenticator.create(as_json(options))
    return webauthn.verify_registration_response(
        credential=json.dumps(response),  # it survives JSON, as a browser's POST body does
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        **verify_kwargs,
    )


def authenticate(authenticator, registered, *, stored_count, discoverable=False, sign_count=None, **verify_kwargs):
    allow = None if discoverable else [PublicKeyCredentialDescriptor(id=registered.credential_id)]
    options = webauthn.generate_authentication_options(rp_id=RP_ID, allow_credentials=allow)
    response = authenticator.get(as_json(options), sign_count=sign_count)
    verified = webauthn.verify_authentication_response(
        credential=response,
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=stored_count,
        **verify_kwargs,
    )
    return verified, response


@pytest.mark.parametrize("backup_eligible", [False, True])
def test_registration_verifies(backup_eligible):
    authenticator = SoftAuthenticator(
        rp_id=RP_ID, origin=ORIGIN, backup_eligible=backup_eligible, aaguid=bytes(range(16))
    )
    registered = register(authenticator)

    credential = authenticator.credentials[registered.credential_id]
    assert registered.credential_public_key == credential.public_key
    assert (registered.fmt, registered.sign_count, registered.user_verified) == ("none", 0, True)
    assert registered.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert (credential.rp_id, credential.user_handle, credential.discoverable) == (RP_ID, USER_ID, False)
    assert registered.credential_backed_up is backup_eligible
    expected_type = CredentialDeviceType.MULTI_DEVICE if backup_eligible else CredentialDeviceType.SINGLE_DEVICE
    assert registered.credential_device_type == expected_type


def test_authentication_verifies_and_counts():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    registered = register(authenticator)

    first, response = authenticate(authenticator, registered, stored_count=0)
    second, _ = authenticate(authenticator, registered, stored_count=first.new_sign_count)

    assert (first.credential_id, first.new_sign_count, second.new_sign_count) == (registered.credential_id, 1, 2)
    assert response["response"]["userHandle"] is None  # not a discoverable credential
    assert response["authenticatorAttachment"] == "platform"


@pytest.mark.parametrize("user_verification", [False, True])
def test_user_verified_is_reflected(user_verification):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, user_verification=user_verification)
    registered = register(authenticator)
    verified, _ = authenticate(authenticator, registered, stored_count=0, require_user_verification=False)
    assert registered.user_verified is verified.user_verified is user_verification

    if user_verification:
        authenticate(authenticator, registered, stored_count=1, require_user_verification=True)
    else:
        with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
            authenticate(authenticator, registered, stored_count=1, require_user_verification=True)


def test_regressed_sign_count_is_rejected_by_the_server():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    registered = register(authenticator)
    authenticate(authenticator, registered, stored_count=0)  # the server now stores 1

    with pytest.raises(InvalidAuthenticationResponse, match="sign count of 1 was not greater than current count of 1"):
        authenticate(authenticator, registered, stored_count=1, sign_count=1)
    # the forged count was reported once; the authenticator's own counter carries on
    assert authenticate(authenticator, registered, stored_count=1)[0].new_sign_count == 2


def test_discoverable_get_returns_user_handle():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, backup_eligible=True)
    registered = register(authenticator, resident_key=ResidentKeyRequirement.REQUIRED)
    assert authenticator.credentials[registered.credential_id].discoverable

    verified, response = authenticate(authenticator, registered, stored_count=0, discoverable=True)
    assert response["response"]["userHandle"] == b64url(USER_ID)
    assert response["id"] == b64url(registered.credential_id)
    assert verified.credential_backed_up


def test_passkey_sign_in_needs_a_discoverable_credential():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    registered = register(authenticator, resident_key=ResidentKeyRequirement.DISCOURAGED)
    with pytest.raises(AssertionError, match="no usable credential"):
        authenticate(authenticator, registered, stored_count=0, discoverable=True)


def test_excluded_credential_raises():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    registered = register(authenticator)
    with pytest.raises(InvalidStateError, match="excluded"):
        register(authenticator, exclude=[PublicKeyCredentialDescriptor(id=registered.credential_id)])
    # someone else's credential in the list does not stop it
    register(authenticator, exclude=[PublicKeyCredentialDescriptor(id=b"another authenticator's credential")])


def test_foreign_rp_id_raises():
    authenticator = SoftAuthenticator(rp_id="example.com", origin="https://example.com")
    with pytest.raises(AssertionError, match="rpId 'localhost'"):
        register(authenticator)
    options = as_json(webauthn.generate_authentication_options(rp_id=RP_ID))
    with pytest.raises(AssertionError, match="rpId 'localhost'"):
        authenticator.get(options)
