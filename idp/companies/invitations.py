"""Invitations to join a company: the rules shared by the admin pages, the CLI and the invitation flow.

An invitation is bound to one address, one company and one role (and optionally a branch). Its
token is random (256 bits), emailed once and stored only as a SHA-256; resending issues a new
token, so the older email stops working. Accepting is one conditional UPDATE, the single-use gate.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import update

from idp import audit, companies
from idp.accounts import AccountError, check_email, links
from idp.companies import restrictions
from idp.extensions import db
from idp.mail import queue_email
from idp.models import Company, Invitation, Membership, User
from idp.models.base import utcnow
from idp.models.users import email_key

INVITATION_PAGE = "invitation.accept"  # the flow's view, named here so the core builds the link


class InvitationError(Exception):
    """An invitation request that cannot be carried out; the message is safe to show."""


def _ttl() -> timedelta:
    return timedelta(days=current_app.config["IDP"].invitations.ttl_days)


def _new_token(invitation: Invitation) -> str:
    raw = secrets.token_urlsafe(32)
    invitation.token_hash = links.hash_token(raw)
    invitation.expires_at = utcnow() + _ttl()
    return raw


def _send(invitation: Invitation, raw: str) -> None:
    config = current_app.config["IDP"]
    role = config.roles.get(invitation.role)
    locale = invitation.locale if invitation.locale in config.languages else config.locale_default
    queue_email("invitation", invitation.email, locale, company=invitation.company, inviter=invitation.invited_by,
                role=role.get(locale) if role is not None else invitation.role, branch=invitation.branch,
                days=max(1, round(config.invitations.ttl_days)),
                link=config.issuer + url_for(INVITATION_PAGE, token=raw))


def invite(company: Company, email: str, role: str, branch: str | None = None, actor: User | None = None,
           locale: str | None = None, allowed_ips: str | None = None) -> Invitation:
    """Invite `email` to `company` with `role`; the email goes out when the caller commits.

    `branch` must be one of the company's branches (where the directory names them); `allowed_ips`
    (as typed: one per line or comma-separated) restricts the membership the invitation makes.

    An earlier pending invitation of the same address to the same company is revoked: only the
    latest one works.
    """
    if "invitation" not in current_app.extensions["idp.flows"]:
        raise InvitationError(_("Invitations need the invitation flow in the configuration."))
    _check_role(role)
    try:
        branch = companies.check_branch(branch, company)
        networks = restrictions.check_allowed_ips(allowed_ips)
    except companies.CompanyError as exc:
        raise InvitationError(str(exc)) from None
    try:
        address = check_email(email)
    except AccountError:
        raise InvitationError(_("This email address is not valid.")) from None
    existing = User.find_by_email(address)
    if existing is not None:
        membership = companies.existing_membership(existing, company)
        if membership is not None and membership.is_active:
            raise InvitationError(_("%(email)s is already a member of %(company)s.", email=address,
                                    company=company.name))
        # The recipient's own language outranks the inviter's page language (idp.web.i18n).
        locale = existing.locale or locale
    for earlier in pending_for(company, address):
        earlier.revoked_at = utcnow()
    invitation = Invitation(company=company, email=address, role=role, branch=branch, locale=locale,
                            allowed_ips=",".join(networks) or None, invited_by=actor, token_hash="")
    raw = _new_token(invitation)
    db.session.add(invitation)
    db.session.flush()
    _send(invitation, raw)
    audit.record("invitation.sent", actor=actor, company=company, invitation=invitation.id, role=role,
                 branch=invitation.branch, allowed_ips=networks, email=address)
    return invitation


def _check_role(role: str) -> None:
    try:
        companies.check_role(role)
    except companies.CompanyError:
        # Named in full: the CLI's user has no list of roles in front of them.
        roles = current_app.config["IDP"].roles
        raise InvitationError(_("Unknown role %(role)s; use one of %(roles)s.", role=role,
                                roles=", ".join(roles))) from None


def resend(invitation: Invitation, actor: User | None = None) -> None:
    """Email a fresh link (the previous one stops working) and restart the validity period."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvitationError(_("This invitation was already accepted or revoked."))
    raw = _new_token(invitation)
    _send(invitation, raw)
    audit.record("invitation.resent", actor=actor, company=invitation.company, invitation=invitation.id)


def revoke(invitation: Invitation, actor: User | None = None) -> None:
    """Withdraw an invitation; its link then leads to a page saying it is no longer valid."""
    if invitation.accepted_at is not None:
        raise InvitationError(_("This invitation was already accepted."))
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record("invitation.revoked", actor=actor, company=invitation.company, invitation=invitation.id)


def pending_for(company: Company, email: str | None = None) -> list[Invitation]:
    """The company's invitations that can still be accepted (of one address, if given)."""
    query = db.select(Invitation).where(Invitation.company_id == company.id, Invitation.accepted_at.is_(None),
                                        Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
    pending = list(db.session.scalars(query.order_by(Invitation.id)))
    if email is None:
        return pending
    # Compared by key in Python: SQL's lower() leaves non-ASCII letters alone on SQLite.
    key = email_key(email)
    return [invitation for invitation in pending if email_key(invitation.email) == key]


def find_pending(raw: str) -> Invitation | None:
    """The invitation whose link carries `raw`, if it can still be accepted."""
    if not raw or len(raw) > 128:
        return None
    invitation = db.session.execute(
        db.select(Invitation).where(Invitation.token_hash == links.hash_token(raw))).scalar_one_or_none()
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


def accept(invitation: Invitation, user: User) -> Membership:
    """Make `user` an active member as the invitation says; only its own address may accept it."""
    if email_key(user.email) != email_key(invitation.email):
        audit.record("invitation.refused", user=user, invitation=invitation.id, reason="other_account")
        raise InvitationError(_("This invitation was sent to another address."))
    now = utcnow()
    # The conditional UPDATE is the single-use gate: of two racing acceptances, one wins.
    result = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
               Invitation.expires_at > now)
        .values(accepted_at=now, accepted_by_id=user.id)
    )
    if result.rowcount != 1:
        raise InvitationError(_("This invitation is no longer valid."))
    try:
        membership = companies.grant_membership(user, invitation.company, invitation.role, invitation.branch,
                                                allowed_ips=invitation.allowed_ips)[0]
    except companies.CompanyError as exc:
        raise InvitationError(str(exc)) from None
    audit.record("invitation.accepted", user=user, company=invitation.company, invitation=invitation.id,
                 role=invitation.role)
    return membership
