"""A software WebAuthn authenticator and client, for tests that drive the provider without a browser.

SoftAuthenticator plays both the browser (clientDataJSON, the JSON form of PublicKeyCredential) and
the authenticator (authenticatorData, an ES256 key pair per credential, "none" attestation). It reads
the options exactly as the server sends them (webauthn.options_to_json parsed with json.loads) and
returns what PublicKeyCredential.toJSON() gives in a browser, ready to post back as JSON.

It is built independently of py_webauthn (its own base64url, CBOR through cbor2, signatures through
cryptography), so that verifying its output with py_webauthn proves something.

What a browser would refuse raises: a foreign rpId (AssertionError), an excluded credential on
create (InvalidStateError, an AssertionError), no usable credential on get (AssertionError).
It does not refuse to answer when the server requires user verification and this authenticator
has none: it answers without the UV flag, so that tests can prove the server rejects that.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ES256 = -7
FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


class InvalidStateError(AssertionError):
    """What a browser raises when the authenticator holds one of the excludeCredentials."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    """A credential the authenticator holds."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    discoverable: bool
    sign_count: int = 0
    attachment: str = "platform"

    @property
    def public_key(self) -> bytes:
        """The COSE_Key (EC2, P-256, ES256), as the server stores it after registration."""
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )


class SoftAuthenticator:
    def __init__(
        self,
        *,
        rp_id: str,
        origin: str,
        user_verification: bool = True,
        backup_eligible: bool = False,
        aaguid: bytes = bytes(16),
    ) -> None:
        assert len(aaguid) == 16, "an AAGUID is 16 bytes"
        self.rp_id = rp_id
        self.origin = origin
        self.user_verification = user_verification
        self.backup_eligible = backup_eligible
        self.aaguid = aaguid
        self.credentials: dict[bytes, SoftCredential] = {}

    # navigator.credentials.create()
    def create(self, options: dict, *, discoverable: bool | None = None) -> dict:
        """Register a new credential. `discoverable` defaults to what authenticatorSelection asks
        (residentKey "required" or "preferred", or requireResidentKey): a passkey."""
        self._check_rp_id(options["rp"].get("id"))
        algs = [param["alg"] for param in options.get("pubKeyCredParams", [])]
        assert not algs or ES256 in algs, f"server accepts none of our algorithms (ES256), only {algs}"
        for excluded in options.get("excludeCredentials", []):
            held = self.credentials.get(b64url_decode(excluded["id"]))
            if held is not None and held.rp_id == self.rp_id:
                raise InvalidStateError(f"credential {excluded['id']} is excluded: already registered")

        selection = options.get("authenticatorSelection", {})
        if discoverable is None:
            discoverable = selection.get("residentKey") in ("required", "preferred") or bool(
                selection.get("requireResidentKey")
            )
        user_handle = b64url_decode(options["user"]["id"])
        if discoverable:  # a new passkey for the same account replaces the old one
            self.credentials = {
                cid: cred
                for cid, cred in self.credentials.items()
                if not (cred.discoverable and cred.rp_id == self.rp_id and cred.user_handle == user_handle)
            }
        credential = SoftCredential(
            id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=self.rp_id,
            user_handle=user_handle,
            discoverable=discoverable,
            attachment=selection.get("authenticatorAttachment") or "platform",
        )
        self.credentials[credential.id] = credential

        attested = self.aaguid + struct.pack(">H", len(credential.id)) + credential.id + credential.public_key
        auth_data = self._authenticator_data(FLAG_AT, credential.sign_count) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        public_key_der = credential.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        extensions = {}
        if options.get("extensions", {}).get("credProps"):
            extensions["credProps"] = {"rk": discoverable}
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                "attestationObject": b64url(attestation_object),
                "authenticatorData": b64url(auth_data),
                "publicKey": b64url(public_key_der),
                "publicKeyAlgorithm": ES256,
                "transports": ["internal"] if credential.attachment == "platform" else ["usb"],
            },
            "clientExtensionResults": extensions,
            "authenticatorAttachment": credential.attachment,
        }

    # navigator.credentials.get()
    def get(self, options: dict, *, sign_count: int | None = None, credential_id: bytes | None = None) -> dict:
        """Sign in with one of the allowCredentials (the first we hold, or `credential_id`), or, when
        the list is empty or absent, with the discoverable credential for rp_id (`credential_id`
        picks one when several accounts have a passkey here).

        The credential's counter goes up by one, unless `sign_count` is given: then that value is
        reported once and the stored counter is left as it was (a cloned authenticator, a replay).
        To present a credential the server did not allow, rewrite allowCredentials in `options`."""
        self._check_rp_id(options.get("rpId"))
        allowed = [b64url_decode(descriptor["id"]) for descriptor in options.get("allowCredentials") or []]
        if allowed:
            candidates = [self.credentials[cid] for cid in allowed if cid in self.credentials]
        else:
            candidates = [cred for cred in self.credentials.values() if cred.discoverable]
        candidates = [cred for cred in candidates if cred.rp_id == self.rp_id]
        if credential_id is not None:
            candidates = [cred for cred in candidates if cred.id == credential_id]
        assert candidates, "no usable credential for this request (a browser would raise NotAllowedError)"
        assert allowed or credential_id or len(candidates) == 1, "several passkeys for this rp_id: pass credential_id"
        credential = candidates[0]

        if sign_count is None:
            credential.sign_count += 1
            sign_count = credential.sign_count
        auth_data = self._authenticator_data(0, sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle) if credential.discoverable else None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": credential.attachment,
        }

    def _check_rp_id(self, requested: str | None) -> None:
        rp_id = requested or urlsplit(self.origin).hostname  # a browser defaults to the origin's host
        assert rp_id == self.rp_id, f"options are for rpId {rp_id!r}, this authenticator serves {self.rp_id!r}"

    def _authenticator_data(self, extra_flags: int, sign_count: int) -> bytes:
        flags = FLAG_UP | extra_flags
        if self.user_verification:
            flags |= FLAG_UV
        if self.backup_eligible:
            flags |= FLAG_BE | FLAG_BS
        return hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)

    def _client_data(self, ceremony: str, challenge: str) -> bytes:
        data = {"type": ceremony, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()
