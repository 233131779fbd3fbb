"""Invitations: an admin asks an address to join a company with a role; only the token's hash is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)  # normalised, as User.email
    role: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(100))
    allowed_ips: Mapped[str | None] = mapped_column(Text)  # as Membership.allowed_ips, carried into it
    locale: Mapped[str | None] = mapped_column(String(8))  # the language of the emails
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # SHA-256 of the emailed token; resending replaces it, so an older email stops working.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company = relationship("Company")
    invited_by = relationship("User", foreign_keys=[invited_by_id])

    @property
    def is_pending(self) -> bool:
        """Neither accepted nor revoked nor expired: the link still works."""
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > utcnow()
