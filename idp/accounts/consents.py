"""Remembered consents: which scopes a person allowed a client (read by the consent step and the protocol)."""

from __future__ import annotations

from idp.extensions import db
from idp.models.oidc import Consent


def _find(user_id: int, client_id: str) -> Consent | None:
    return db.session.execute(
        db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    ).scalar_one_or_none()


def has_consent(user_id: int, client_id: str, scopes: list[str]) -> bool:
    """True when every scope in `scopes` was allowed before for this client."""
    consent = _find(user_id, client_id)
    return consent is not None and set(scopes) <= set(consent.scopes.split())


def remember(user_id: int, client_id: str, scopes: list[str]) -> None:
    """Record that the person allowed `scopes` (added to what they allowed before)."""
    consent = _find(user_id, client_id)
    if consent is None:
        consent = Consent(user_id=user_id, client_id=client_id, scopes="")
        db.session.add(consent)
    consent.scopes = " ".join(sorted(set(consent.scopes.split()) | set(scopes)))
    db.session.flush()


def forget(user_id: int, client_id: str) -> None:
    consent = _find(user_id, client_id)
    if consent is not None:
        db.session.delete(consent)
        db.session.flush()
