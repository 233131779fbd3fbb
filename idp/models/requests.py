"""Requests people file and others decide: access to a company, web accounts for a customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class AccessRequest(db.Model):
    """A person asks the admins of a company for a membership (the company already has an admin)."""

    __tablename__ = "access_requests"
    __table_args__ = (
        # At most one pending request per person and company, whatever the race.
        Index("uq_access_requests_pending", "user_id", "company_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", foreign_keys=[user_id])
    company = relationship("Company")
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING


class AccountRequest(db.Model):
    """Web accounts asked for by a customer's key contact (document 001), reviewed by operators.

    `people` is a list of {"given_name", "family_name", "email", "role"}; the key contact is
    the first and becomes the company's admin.
    """

    __tablename__ = "account_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    customer_number: Mapped[str] = mapped_column(String(64), index=True)
    company_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    contact_given_name: Mapped[str] = mapped_column(String(100))
    contact_family_name: Mapped[str] = mapped_column(String(100))
    contact_email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str | None] = mapped_column(String(8))
    people: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    terms_accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)


def decide_pending(request: AccessRequest | AccountRequest, status: RequestStatus, actor_id: int | None,
                   **values: Any) -> bool:
    """Move a pending request to `status`; False when it was no longer pending.

    The conditional UPDATE is the gate: of two people deciding at once, only one wins.
    """
    from sqlalchemy import update

    model = type(request)
    result = db.session.execute(
        update(model)
        .where(model.id == request.id, model.status == RequestStatus.PENDING)
        .values(status=status, decided_at=utcnow(), decided_by_id=actor_id, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    db.session.refresh(request)
    return True
