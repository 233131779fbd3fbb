"""Signing keys: generated at first use, kept encrypted in SQL, cached per process, rotated by `idp keys rotate`.

The newest unretired key of an algorithm signs; every unretired key is published in the JWKS,
so tokens signed before a rotation stay verifiable. A rotation retires the keys older than the
previous one. Importing a JWK is slow, so each process keeps its imported keys and looks in SQL
for a newer set at most every RELOAD_SECONDS (another process may have rotated).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from joserfc.jwk import ECKey, RSAKey

from idp.extensions import db
from idp.models.oidc import SigningKey
from idp.security.sealing import resealed, seal, secret_keys, unseal

ALGORITHMS = ("RS256", "ES256")
RELOAD_SECONDS = 30.0


SEALING_PURPOSE = b"idp signing keys"  # a key of its own for the signing keys (idp.security.sealing)


def _encrypt(secret_key: str, data: dict[str, Any], kid: str) -> str:
    return seal(secret_key, SEALING_PURPOSE, json.dumps(data).encode(), kid.encode())


def _decrypt(keys: list[str], blob: str, kid: str) -> dict[str, Any]:
    # The current secret or a fallback (a rotation under way): idp.security.sealing.
    return json.loads(unseal(keys, SEALING_PURPOSE, blob, kid.encode()))


def reseal() -> tuple[int, int]:
    """Seal every signing key (retired ones too: they stay in SQL) under the current secret,
    in the caller's transaction; (resealed, already under the current secret)."""
    keys = secret_keys()
    changed = current = 0
    for row in db.session.execute(db.select(SigningKey).order_by(SigningKey.id).with_for_update()).scalars():
        sealed = resealed(keys, SEALING_PURPOSE, row.private_jwk, row.kid.encode(), f"signing key {row.kid}")
        if sealed is None:
            current += 1
        else:
            row.private_jwk, changed = sealed, changed + 1
    return changed, current


def _generate(alg: str) -> RSAKey | ECKey:
    kid = secrets.token_urlsafe(12)
    parameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True)
    return RSAKey.generate_key(2048, parameters=parameters, private=True)


def _store_new_key(alg: str) -> SigningKey:
    key = _generate(alg)
    kid = key.kid
    row = SigningKey(kid=kid, alg=alg, private_jwk=_encrypt(current_app.config["SECRET_KEY"], key.as_dict(private=True),
                                                            kid))
    db.session.add(row)
    return row


def rotate() -> list[str]:
    """Make a new key of each algorithm sign; keep the previous one published, retire older ones."""
    now = datetime.now(UTC)
    new_kids = []
    for alg in ALGORITHMS:
        rows = db.session.execute(
            db.select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
            .order_by(SigningKey.id.desc())
        ).scalars().all()
        # rows[0] becomes "previous": still published. Anything older is retired.
        for row in rows[1:]:
            row.retired_at = now
        new_kids.append(_store_new_key(alg).kid)
    db.session.commit()
    ring = current_app.extensions.get("idp.keys")
    if ring is not None:
        ring.invalidate()
    return new_kids


@dataclass
class _Loaded:
    signing: dict[str, RSAKey | ECKey]  # alg -> the key that signs
    public_jwks: dict[str, Any]
    loaded_at: float
    fingerprint: tuple[str, ...]
    public_jwks_json: bytes  # the JWKS document as served


class KeyRing:
    """The process's view of the signing keys."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._imported: dict[str, RSAKey | ECKey] = {}

    def invalidate(self) -> None:
        self._loaded = None

    def _rows(self) -> list[SigningKey]:
        return list(db.session.execute(
            db.select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id)
        ).scalars())

    def _load(self) -> _Loaded:
        rows = self._rows()
        missing = [alg for alg in ALGORITHMS if not any(r.alg == alg for r in rows)]
        if missing:
            # First start: two processes may both create a key; both are published, the newest signs.
            for alg in missing:
                _store_new_key(alg)
            db.session.commit()
            rows = self._rows()
        app_secrets = secret_keys(self.app)
        keys = []
        signing: dict[str, RSAKey | ECKey] = {}
        for row in rows:
            key = self._imported.get(row.kid)
            if key is None:
                data = _decrypt(app_secrets, row.private_jwk, row.kid)
                key = ECKey.import_key(data) if row.alg == "ES256" else RSAKey.import_key(data)
                self._imported[row.kid] = key
            keys.append(key)
            signing[row.alg] = key  # ordered by id: the last one of each alg wins
        public = {"keys": [key.as_dict(private=False) for key in keys]}
        return _Loaded(signing, public, time.monotonic(), tuple(r.kid for r in rows),
                       json.dumps(public, separators=(",", ":")).encode())

    def _current(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None or time.monotonic() - loaded.loaded_at > RELOAD_SECONDS:
            with self._lock:
                loaded = self._loaded
                if loaded is None or time.monotonic() - loaded.loaded_at > RELOAD_SECONDS:
                    loaded = self._load()
                    self._loaded = loaded
        return loaded

    def signing_key(self, alg: str = "RS256") -> RSAKey | ECKey:
        return self._current().signing[alg]

    def find(self, kid: str | None) -> RSAKey | ECKey | None:
        """A published key by id; an unknown kid forces one reload (a rotation elsewhere)."""
        if not kid:
            return None
        key = self._find_loaded(kid)
        if key is None and self._loaded is not None and (time.monotonic() - self._loaded.loaded_at > 1
                                                         or self._published(kid)):
            # At most one reload a second for kids nobody published (a stranger's tokens), and at once
            # for one that another process has just published: at a first start two processes may
            # each create a key, and each one's tokens must verify at the other straight away.
            self.invalidate()
            key = self._find_loaded(kid)
        return key

    def _published(self, kid: str) -> bool:
        return db.session.execute(
            db.select(SigningKey.id).where(SigningKey.kid == kid[:64], SigningKey.retired_at.is_(None))
        ).first() is not None

    def _find_loaded(self, kid: str) -> RSAKey | ECKey | None:
        loaded = self._current()
        if kid not in loaded.fingerprint:
            return None
        return self._imported.get(kid)

    def public_jwks(self) -> dict[str, Any]:
        return self._current().public_jwks

    def public_jwks_json(self) -> bytes:
        return self._current().public_jwks_json


def keyring() -> KeyRing:
    return current_app.extensions["idp.keys"]
