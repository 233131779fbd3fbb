"""Companies (customers of the business) and the memberships tying people to them."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow


class MembershipStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


def normalize_member_code(code: str) -> str:
    """People type the code from a letter or an invoice: neither case nor surrounding spaces count."""
    return code.strip().upper()


def hash_member_code(code: str) -> str:
    return hashlib.sha256(normalize_member_code(code).encode()).hexdigest()


class Company(db.Model):
    __tablename__ = "companies"
    # The operators' search by the start of a name or an identifier, in any case (see User).
    __table_args__ = (
        Index("ix_companies_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_companies_external_id_trgm", "external_id", postgresql_using="gin",
              postgresql_ops={"external_id": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    # The business's own identifier: a customer number, a SIREN...
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    # The member code is a shared secret: only its hash is kept, compared in constant time.
    member_code_hash: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The company's branches from the directory's `branches` column ("MTL;QC"): a member's branch is
    # one of them. Empty: the directory names none, and the branch stays free text.
    branches: Mapped[str | None] = mapped_column(Text)
    # Bumped by every change to who administers the company: the UPDATE takes the row lock
    # (idp.companies.lock_company), so "first joiner becomes admin" and "the last admin stays"
    # are decided one at a time on SQLite and PostgreSQL alike.
    lock_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships = relationship("Membership", back_populates="company", cascade="all, delete-orphan")

    @property
    def branch_names(self) -> list[str]:
        return [name for name in (self.branches or "").split(";") if name]

    def set_member_code(self, code: str | None) -> None:
        self.member_code_hash = hash_member_code(code) if code else None

    def check_member_code(self, code: str) -> bool:
        """Both sides normalised (the stored hash was made from a normalised code), compared in
        constant time."""
        expected = self.member_code_hash or ""
        matches = hmac.compare_digest(expected, hash_member_code(code))
        # A code stored before codes were normalised (with small letters) is hashed as it was
        # written: it still matches when typed exactly so, until the next directory import
        # stores its normalised hash. Both comparisons always run.
        as_written = hmac.compare_digest(expected, hashlib.sha256(code.strip().encode()).hexdigest())
        return (matches | as_written) and bool(expected)


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "company_id", name="uq_memberships_user_company"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    branch: Mapped[str | None] = mapped_column(String(100))
    # Comma-separated networks in canonical form (idp.security.restrictions); empty: no restriction.
    allowed_ips: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=MembershipStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user = relationship("User", back_populates="memberships")
    company = relationship("Company", back_populates="memberships")

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE

    @property
    def allowed_networks(self) -> list[str]:
        return [item for item in (self.allowed_ips or "").split(",") if item]
