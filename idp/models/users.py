"""A user is one person, identified by email (and optionally a username, the "user code")."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Index, Integer, String, bindparam, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow


class UserStatus(StrEnum):
    PENDING = "pending"  # email not yet confirmed
    ACTIVE = "active"
    DISABLED = "disabled"


def normalize_email(email: str) -> str:
    """An address as stored and written to: as typed, trimmed, in NFC, its domain lower-cased.

    The local part keeps its case and its letters: only the receiving server may say that
    "Jürgen.Straße" and "jürgen.strasse" are one mailbox (RFC 5321 section 2.4), and case
    folding turns "ß" into "ss", another person's address.
    """
    address = unicodedata.normalize("NFC", email.strip())
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def email_key(email: str) -> str:
    """What makes an address unique among accounts, and finds its account: the normalised
    address lower-cased (never case-folded). Never an address to write to."""
    return unicodedata.normalize("NFC", normalize_email(email).lower())


def normalize_username(username: str) -> str:
    return username.strip().casefold()


def login_key(login: str) -> str:
    """The account a typed login names, as a key: an address's email_key, or the username."""
    return email_key(login) if "@" in login else normalize_username(login)


class User(db.Model):
    __tablename__ = "users"
    # The operators' search (idp.admin.operators): an address or a username by its start, through
    # btree indexes that serve LIKE 'x%' whatever the collation (text_pattern_ops), and names by
    # their start in any case (ILIKE) through trigram indexes (pg_trgm). On SQLite they are plain
    # indexes, and the search a scan: the embedded default serves one node.
    __table_args__ = (
        Index("ix_users_email_key_prefix", "email_key", postgresql_ops={"email_key": "text_pattern_ops"}),
        Index("ix_users_username_prefix", "username", postgresql_ops={"username": "text_pattern_ops"}),
        Index("ix_users_family_name_trgm", "family_name", postgresql_using="gin",
              postgresql_ops={"family_name": "gin_trgm_ops"}),
        Index("ix_users_given_name_trgm", "given_name", postgresql_using="gin",
              postgresql_ops={"given_name": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalize_email: where mail goes
    # email_key(email), kept by _keep_email_key: the uniqueness key and what lookups compare.
    email_key: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    mobile_phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Set for accounts whose password someone else chose (document 004): change it at first sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE)
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped to end every session of the user at once (password reset, disable).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships = relationship("Membership", back_populates="user", cascade="all, delete-orphan")

    @validates("email")
    def _keep_email_key(self, _key: str, address: str) -> str:
        address = normalize_email(address)
        self.email_key = email_key(address)
        return address

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @classmethod
    def find_by_login(cls, login: str) -> User | None:
        """The user whose email or username is `login`, case-insensitively."""
        key = login_key(login)
        if not key:
            return None
        statement = _BY_EMAIL if "@" in key else _BY_USERNAME
        return db.session.execute(statement, {"login": key}).scalar_one_or_none()

    @classmethod
    def find_by_email(cls, email: str) -> User | None:
        return db.session.execute(db.select(cls).where(cls.email_key == email_key(email))).scalar_one_or_none()


# Built once: every sign-in runs one of them, and building a statement costs more than running it.
_BY_EMAIL = select(User).where(User.email_key == bindparam("login"))
_BY_USERNAME = select(User).where(User.username == bindparam("login"))
