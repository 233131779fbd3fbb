"""Secrets kept in SQL but needed in clear (signing keys, TOTP seeds), sealed with AES-GCM.

Each purpose gets its own key, derived from the application secret with HKDF and the purpose as
`info`, and each value is bound to its row by the associated data: a sealed value copied to
another row, or to another purpose, does not open.

The secret can be rotated (README, "Rotating the secret key"): values are always sealed under the
current secret (`secret_key`) and opened under it or any previous one still configured
(`secret_key_fallbacks`); AES-GCM's tag tells which key is the right one, so trying each in turn
is safe. `idp secrets reseal` then moves every sealed value to the current secret.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app


class UnsealError(Exception):
    """A sealed value opens under none of the configured secrets (secret_key, secret_key_fallbacks).

    Not the person's doing: the secret was replaced without keeping the previous one among the
    fallbacks (or the value was altered in SQL). The error handlers answer it with a 503 and log
    what the operator has to do; the message names no secret.
    """


def secret_keys(app: Flask | None = None) -> list[str]:
    """The application's secrets, the current one first, then the fallbacks in their order."""
    config = (app or current_app).config
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ())]


def _cipher(secret_key: str, purpose: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
    return AESGCM(derived)


def seal(secret_key: str, purpose: bytes, data: bytes, bound_to: bytes) -> str:
    """`data` encrypted for `purpose`, bound to `bound_to` (a row's identifier): base64url text.

    `secret_key` is the current secret: a value is never sealed under a fallback."""
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + _cipher(secret_key, purpose).encrypt(nonce, data, bound_to)).decode()


def unseal_with_index(keys: str | Sequence[str], purpose: bytes, sealed: str,
                      bound_to: bytes) -> tuple[bytes, int]:
    """The data `seal` sealed and the position in `keys` (the current secret first, as
    `secret_keys` lists them) of the secret that opened it (0: the current one); UnsealError when
    none does, or the purpose or row differ."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
    except ValueError:
        raise UnsealError(f"a sealed value of {purpose.decode()!r} is not base64url") from None
    for index, key in enumerate(keys):
        try:
            return _cipher(key, purpose).decrypt(raw[:12], raw[12:], bound_to), index
        except InvalidTag:
            continue
    raise UnsealError(f"a sealed value of {purpose.decode()!r} opens under none of the {len(keys)} configured "
                      "secret(s) (secret_key, secret_key_fallbacks); keep the previous secret in "
                      "secret_key_fallbacks until `idp secrets reseal` has run")


def unseal(keys: str | Sequence[str], purpose: bytes, sealed: str, bound_to: bytes) -> bytes:
    """The data `seal` sealed, opened under the first of `keys` (the current secret first) that fits."""
    return unseal_with_index(keys, purpose, sealed, bound_to)[0]


def resealed(keys: Sequence[str], purpose: bytes, sealed: str, bound_to: bytes, what: str) -> str | None:
    """`sealed` sealed again under the current secret (keys[0]), or None when it already is; an
    UnsealError naming `what` when it opens under none of `keys`."""
    try:
        data, index = unseal_with_index(keys, purpose, sealed, bound_to)
    except UnsealError as exc:
        raise UnsealError(f"{what}: {exc}") from None
    return None if index == 0 else seal(keys[0], purpose, data, bound_to)
