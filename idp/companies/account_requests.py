"""Account requests (document 001): a customer's key contact asks for web accounts for N people.

Operators approve or reject them (or the configuration approves them at once:
companies.auto_approve_account_requests). On approval each person gets an account (or keeps
theirs), a membership with the requested role, and the "choose your password" email with
their username; the key contact becomes the company's admin when it has none.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _

from idp import accounts, audit, companies
from idp.extensions import db
from idp.mail import queue_email
from idp.models import AccountRequest, User
from idp.models.base import utcnow
from idp.models.requests import RequestStatus, decide_pending
from idp.models.users import email_key

MAX_PEOPLE = 20


class AccountRequestError(Exception):
    """An account request that cannot be carried out; the message is safe to show."""


def file(*, customer_number: str, company_name: str, address: str, city: str, postal_code: str, phone: str,
         contact_given_name: str, contact_family_name: str, contact_email: str, people: list[dict[str, Any]],
         locale: str | None) -> AccountRequest:
    """Record a request (the caller validated the fields and the terms); approve it at once if configured."""
    request = AccountRequest(
        customer_number=customer_number, company_name=company_name, address=address, city=city,
        postal_code=postal_code, phone=phone, contact_given_name=contact_given_name,
        contact_family_name=contact_family_name, contact_email=contact_email, people=people, locale=locale,
        terms_accepted_at=utcnow(), status=RequestStatus.PENDING,
    )
    db.session.add(request)
    db.session.flush()
    audit.record("account_request.filed", request=request.public_id, customer_number=customer_number,
                 people=len(people))
    db.session.commit()
    if current_app.config["IDP"].companies.auto_approve_account_requests:
        approve(request, None)
    return request


def _decide(request: AccountRequest, status: RequestStatus, actor: User | None, **values: Any) -> bool:
    # Two operators approving at once create the accounts once.
    return decide_pending(request, status, actor.id if actor else None, **values)


def approve(request: AccountRequest, actor: User | None) -> int:
    """Create the accounts and memberships; returns how many accounts were created."""
    company = companies.find_company(request.customer_number)
    if company is None or not company.active:
        raise AccountRequestError(_("No active customer account has this customer number."))
    if not _decide(request, RequestStatus.APPROVED, actor):
        raise AccountRequestError(_("This request was already decided."))
    db.session.commit()
    created = 0
    for person in request.people:
        user = User.find_by_email(person["email"])
        created_now = user is None
        if user is None:
            try:
                user = accounts.create_user(email=person["email"], given_name=person["given_name"],
                                            family_name=person["family_name"], locale=request.locale,
                                            send_password_link=True, actor=actor)
            except accounts.AccountError as exc:
                audit.record("account_request.person_skipped", request=request.public_id, reason=str(exc))
                db.session.commit()
                continue
            created += 1
        try:
            # Someone already a member keeps their access as it is. The key contact administers the
            # company if it has no admin: decided under the company lock, per person, because
            # create_user() commits and no lock can span the loop.
            first_admin = email_key(user.email) == email_key(request.contact_email)
            membership, new = companies.grant_membership(user, company, person["role"], keep_existing=True,
                                                         first_admin=first_admin)
        except companies.CompanyError:
            continue  # rolled back: a membership was made meanwhile, which is what "already a member" gets
        if new:
            audit.record("membership.created", user=user, actor=actor, company=company, role=person["role"],
                         admin=membership.is_admin, via="account_request")
            if not created_now:
                # Someone who already had an account is told of the new access instead.
                queue_email("access_approved", user.email, user.locale, user=user, company=company,
                            role=person["role"], link=current_app.config["IDP"].issuer + "/")
        db.session.commit()
    audit.record("account_request.approved", actor=actor, company=company, request=request.public_id,
                 created=created, automatic=actor is None)
    db.session.commit()
    return created


def reject(request: AccountRequest, actor: User, reason: str | None) -> None:
    reason = (reason or "").strip()[:companies.REASON_MAX] or None
    if not _decide(request, RequestStatus.REJECTED, actor, reason=reason):
        raise AccountRequestError(_("This request was already decided."))
    audit.record("account_request.rejected", actor=actor, request=request.public_id)
    queue_email("account_request_rejected", request.contact_email, request.locale, account_request=request,
                reason=reason)
    db.session.commit()
