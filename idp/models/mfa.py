"""Second factors: TOTP secrets and WebAuthn credentials (one row each), and recovery codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow


class FactorKind(StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"


class MfaFactor(db.Model):
    """A second factor a person enrolled. A TOTP row holds its secret sealed with a key derived
    from the application secret (idp.security.sealing); a WebAuthn row holds the credential's
    public key and signature counter. Rows exist only once enrollment was confirmed."""

    __tablename__ = "mfa_factors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP
    totp_secret: Mapped[str | None] = mapped_column(Text)
    # WebAuthn: the credential id (base64url, unique), its COSE public key (base64url)
    credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)
    public_key: Mapped[str | None] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str | None] = mapped_column(String(200))
    # A discoverable credential (a passkey) can sign a person in without a password.
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Backup eligible: the private key may be synced off the device (amr swk rather than hwk).
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)

    user = relationship("User")


class RecoveryCode(db.Model):
    """One single-use recovery code, kept only as a keyed hash (idp.security.mfa.recovery)."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
