"""Secrets kept in SQL but needed in clear (signing keys, TOTP seeds), sealed with AES-GCM.

Each purpose gets its own key, derived from the application secret with HKDF and the purpose as
`info`, and each value is bound to its row by the associated data: a sealed value copied to
another row, or to another purpose, does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _cipher(secret_key: str, purpose: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
    return AESGCM(derived)


def seal(secret_key: str, purpose: bytes, data: bytes, bound_to: bytes) -> str:
    """`data` encrypted for `purpose`, bound to `bound_to` (a row's identifier): base64url text."""
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + _cipher(secret_key, purpose).encrypt(nonce, data, bound_to)).decode()


def unseal(secret_key: str, purpose: bytes, sealed: str, bound_to: bytes) -> bytes:
    """The data `seal` sealed; cryptography's InvalidTag when the key, purpose or row differ."""
    raw = base64.urlsafe_b64decode(sealed.encode())
    return _cipher(secret_key, purpose).decrypt(raw[:12], raw[12:], bound_to)
