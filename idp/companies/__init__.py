"""Company memberships: which company a sign-in acts for, joining, access requests, member changes.

The decision helpers at the top (`active_memberships`, `chosen_company_id`, `role_allowed`) are
shared by the sign-in steps (idp.flows.company_choice) and the claims (idp.oidc), so that the
company a person picked and the company in their token are the same by construction.

Races are settled by the database, never by a read-then-write in Python: `lock_company()` is
an UPDATE of the company row, which takes its write lock on PostgreSQL (row) and SQLite
(database) until commit, so "the first joiner becomes admin" and "the last admin stays" are
decided one transaction at a time; a request is decided by one conditional UPDATE that only
one approver can win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from idp import audit, signals
from idp.extensions import db
from idp.mail import queue_email
from idp.models import AccessRequest, Company, Membership, User
from idp.models.base import utcnow
from idp.models.companies import MembershipStatus
from idp.models.requests import RequestStatus, decide_pending
from idp.models.users import UserStatus
from idp.security import api_keys
from idp.text import has_control_characters

REMIND_INTERVAL = timedelta(days=1)
BRANCH_MAX = 100
REASON_MAX = 1000


class CompanyError(Exception):
    """A company operation that cannot be carried out; the message is safe to show."""


# Decisions: pure functions over values (what the pipeline steps and the claims read).


# Built once: every sign-in and token with company claims runs it.
_ACTIVE_MEMBERSHIPS = (
    # The companies come with the rows (contains_eager): the claims, the picker and /tools read each
    # one's name and identifiers, which would otherwise be one more SELECT per company.
    select(Membership).join(Company, Membership.company_id == Company.id).options(contains_eager(Membership.company))
    .where(Membership.user_id == bindparam("user_id"), Membership.status == MembershipStatus.ACTIVE,
           Company.active.is_(True))
    .order_by(Company.name, Company.id)
)


def active_memberships(user: User | None) -> list[Membership]:
    """The user's active memberships of active companies, in a stable order (company name, id).

    These are the memberships that appear in the `companies` claim; pass them to
    `chosen_company_id()`.
    """
    if user is None or not getattr(user, "is_active", False):
        return []
    return list(db.session.execute(_ACTIVE_MEMBERSHIPS, {"user_id": user.id}).scalars().all())



def find_membership(memberships: Iterable[Membership], ident: str | None) -> Membership | None:
    """The membership whose company is `ident` (its public_id, or its external identifier)."""
    if not ident:
        return None
    for membership in memberships:
        if ident in (membership.company.public_id, membership.company.external_id):
            return membership
    return None


def chosen_company_id(interaction: Any, memberships: Sequence[Membership]) -> str | None:
    """The Company.public_id this sign-in acts for, or None when there is no single answer.

    In order: the company recorded by the company step (`interaction.done["company"]
    ["company_id"]`) if the person is still an active member of it; else the client's
    `company` authorization parameter (a company public_id or external identifier) if it names
    one of `memberships`; else the session's active company (chosen earlier, or on /tools);
    else the only membership when there is exactly one. `memberships`
    must be `active_memberships(user)`. Pure: reads only its arguments.
    """
    proven = (interaction.done or {}).get("company") or {}
    chosen = find_membership(memberships, proven.get("company_id"))
    if chosen is not None:
        return chosen.company.public_id
    hinted = find_membership(memberships, (interaction.params or {}).get("company"))
    if hinted is not None:
        return hinted.company.public_id
    session = getattr(interaction, "session", None)
    remembered = find_membership(memberships, getattr(session, "company", None))
    if remembered is not None:
        return remembered.company.public_id
    if len(memberships) == 1:
        return memberships[0].company.public_id
    return None


def role_allowed(roles: Sequence[str] | None, membership: Membership | None) -> bool:
    """May this membership use a portal whose configuration lists `roles`? None admits everyone."""
    if roles is None:
        return True
    return membership is not None and membership.role in roles


def memberships_for_admin(user: User) -> list[Membership]:
    """The user's active admin memberships of active companies: the companies they may administer.

    A deactivated company is out of reach of its admins, as it is out of the sign-in and the claims.
    """
    if not user.is_active:
        return []
    return list(db.session.execute(
        select(Membership).join(Membership.company).options(contains_eager(Membership.company))
        .where(Membership.user_id == user.id, Membership.is_admin.is_(True),
               Membership.status == MembershipStatus.ACTIVE, Company.active.is_(True))
        .order_by(Company.name, Company.id)
    ).scalars().all())


def _members_query(company: Company) -> Any:
    # The user is loaded with the row: the members page and the notifications read it for every member.
    return (select(Membership).join(Membership.user).options(contains_eager(Membership.user))
            .where(Membership.company_id == company.id)
            .order_by(User.family_name, User.given_name, User.id))


def memberships_of(company: Company, *, statuses: Iterable[str] | None = None) -> list[Membership]:
    query = _members_query(company)
    if statuses is not None:
        query = query.where(Membership.status.in_(list(statuses)))
    return list(db.session.execute(query).scalars().all())


def active_admins(company: Company) -> list[Membership]:
    """Active admin memberships of active users: the people who decide access requests."""
    return list(db.session.execute(
        _members_query(company).where(Membership.status == MembershipStatus.ACTIVE, Membership.is_admin.is_(True),
                                      User.status == UserStatus.ACTIVE)
    ).scalars().all())


def pending_requests(company: Company) -> list[AccessRequest]:
    return list(db.session.execute(
        select(AccessRequest).where(AccessRequest.company_id == company.id,
                                    AccessRequest.status == RequestStatus.PENDING)
        .order_by(AccessRequest.created_at, AccessRequest.id)
    ).scalars().all())


def requests_of(user: User) -> list[AccessRequest]:
    """The user's pending requests (what /companies/requests shows)."""
    return list(db.session.execute(
        select(AccessRequest).where(AccessRequest.user_id == user.id, AccessRequest.status == RequestStatus.PENDING)
        .order_by(AccessRequest.created_at, AccessRequest.id)
    ).scalars().all())


# Changes. Each runs in the caller's transaction and commits; each is audited.


def lock_company(company: Company) -> None:
    """Serialize changes to who administers `company` until the transaction ends (see module doc)."""
    db.session.execute(
        update(Company).where(Company.id == company.id).values(lock_version=Company.lock_version + 1)
        .execution_options(synchronize_session=False)
    )


def default_role() -> str:
    """The role of a company's first admin: the first role of the configuration."""
    return next(iter(current_app.config["IDP"].roles))


def check_role(role: str | None) -> str:
    if not role or role not in current_app.config["IDP"].roles:
        raise CompanyError(_("Choose one of the roles offered."))
    return role


def check_branch(branch: str | None, company: Company | None = None) -> str | None:
    """The branch as stored (None for none). Where the directory names the company's branches
    (`Company.branches`), a branch must be one of them; otherwise it is free text."""
    branch = (branch or "").strip()
    if len(branch) > BRANCH_MAX:
        raise CompanyError(_("The branch name is too long."))
    # Checked here as well as by the forms: the branch also comes from the command line, and it
    # travels in the company_branch claim, which header-based portals turn into a header.
    if has_control_characters(branch):
        raise CompanyError(_("The branch name may not contain control characters (line breaks, tabs...)."))
    if branch and company is not None and company.branch_names and branch not in company.branch_names:
        raise CompanyError(_("Choose one of the branches of %(company)s.", company=company.name))
    return branch or None


def find_company(identifier: str) -> Company | None:
    """The company with this external identifier, after the configured validation.

    People type it from a letter or an invoice: surrounding spaces and case do not count
    (`c-10002` finds `C-10002`), unless two identifiers of the directory differ only by case.
    """
    from idp.companies.directory import check_identifier

    config = current_app.config["IDP"].companies
    typed = (identifier or "").strip()
    # A pattern may spell the identifier in capitals (or small letters): try the typed value in each.
    forms = (typed, typed.upper(), typed.lower())
    ident = next(filter(None, (check_identifier(form, config) for form in forms)), None)
    if ident is None or len(ident) > 64:
        return None
    company = db.session.execute(select(Company).where(Company.external_id == ident)).scalar_one_or_none()
    if company is not None:
        return company
    # Only on a miss, the comparison that ignores case (it cannot use the unique index).
    same = db.session.execute(select(Company).where(func.lower(Company.external_id) == ident.lower())
                              .limit(2)).scalars().all()
    return same[0] if len(same) == 1 else None


def existing_membership(user: User, company: Company) -> Membership | None:
    return db.session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.company_id == company.id)
    ).scalar_one_or_none()


def pending_request(user: User, company: Company) -> AccessRequest | None:
    return db.session.execute(
        select(AccessRequest).where(AccessRequest.user_id == user.id, AccessRequest.company_id == company.id,
                                    AccessRequest.status == RequestStatus.PENDING)
    ).scalar_one_or_none()


def grant_membership(user: User, company: Company, role: str, branch: str | None = None, *,
                     first_admin: bool = False, keep_existing: bool = False,
                     allowed_ips: str | None = None) -> tuple[Membership, bool]:
    """Make `user` an active member of `company` with `role` and `branch`; the caller audits and commits.

    Returns the membership and whether it is new. Under the company lock, so a membership made
    meanwhile by another path (a join, an invitation, an approval) is found and reused instead of
    inserted twice: it gets the role, the branch and the active status, or with `keep_existing`
    stays as it is (deactivated too). With `first_admin` a new member administers the company if
    it has no active admin at that moment.

    No grant gives administration back: a deactivated membership that becomes active again gets
    exactly the role and branch of this grant and no admin flag (only `set_admin` grants it),
    while an active admin stays one (a late grant demotes no one, and the last admin stays).

    `allowed_ips` (an invitation's) restricts a new membership, or one that had no restriction;
    a membership already restricted keeps its own: no grant loosens an address restriction.
    """
    lock_company(company)
    membership = existing_membership(user, company)
    new = membership is None
    if membership is not None:
        if keep_existing:
            return membership, False
        was_active = membership.is_active
        if was_active and (membership.role, membership.branch) != (role, branch):
            # A live membership changes: what a portal holds for the user may be stale. (A
            # deactivated one has no portal tokens left: deactivation revoked them.)
            _access_changed(user)
        membership.is_admin = was_active and membership.is_admin
        membership.role, membership.branch, membership.status = role, branch, MembershipStatus.ACTIVE
        if allowed_ips and not membership.allowed_ips:
            membership.allowed_ips = allowed_ips
            if was_active:
                _access_changed(user)  # refresh families keep the addresses they began with
    else:
        membership = Membership(user_id=user.id, company_id=company.id, role=role, branch=branch,
                                allowed_ips=allowed_ips or None,
                                is_admin=first_admin and not active_admins(company), status=MembershipStatus.ACTIVE)
        db.session.add(membership)
    try:
        db.session.flush()
    except IntegrityError:
        # Only a writer that skipped the lock can get here; the person may simply try again.
        db.session.rollback()
        raise CompanyError(_("Something went wrong on our side. Please try again.")) from None
    return membership, new


def join(user: User, company: Company) -> Membership | AccessRequest:
    """`user` proved the member code of `company`: make them its admin if it has none, else file a request.

    The caller has checked the code. Returns the new active membership (first admin) or the
    pending access request (existing or new).
    """
    if not company.active:
        raise CompanyError(_("This customer account is not active. Please contact us."))
    # The lock comes first: a second joiner waits here until the first one has committed, and
    # then sees the admin the first one became (or the membership an approval just granted).
    lock_company(company)
    membership = existing_membership(user, company)
    if membership is not None:
        if membership.is_active:
            raise CompanyError(_("You are already a member of %(company)s.", company=company.name))
        raise CompanyError(_("Your access to %(company)s was deactivated. Please ask its administrator.",
                             company=company.name))
    if not active_admins(company):
        membership = Membership(user_id=user.id, company_id=company.id, role=default_role(), is_admin=True,
                                status=MembershipStatus.ACTIVE)
        db.session.add(membership)
        # A request filed while the company had admins is moot once its requester administers it.
        earlier = pending_request(user, company)
        if earlier is not None:
            earlier.status, earlier.decided_at, earlier.decided_by_id = RequestStatus.APPROVED, utcnow(), user.id
            earlier.role = membership.role
        db.session.flush()
        audit.record("membership.created", user=user, actor=user, company=company, role=membership.role,
                     admin=True, via="join")
        db.session.commit()
        return membership
    request = pending_request(user, company)
    if request is not None:
        db.session.commit()
        return request
    request = AccessRequest(user_id=user.id, company_id=company.id, status=RequestStatus.PENDING)
    db.session.add(request)
    try:
        db.session.flush()
    except IntegrityError:
        # The same person filed the same request from another tab at the same moment.
        db.session.rollback()
        existing = pending_request(user, company)
        if existing is None:
            raise
        return existing
    audit.record("access_request.filed", user=user, actor=user, company=company, request=request.public_id)
    _notify_admins(request, reminder=False)
    db.session.commit()
    return request


def _notify_admins(request: AccessRequest, *, reminder: bool) -> None:
    issuer = current_app.config["IDP"].issuer
    link = issuer + url_for("admin_companies.request_detail", company_id=request.company.public_id,
                            request_id=request.public_id)
    for admin in active_admins(request.company):
        queue_email("access_request", admin.user.email, admin.user.locale, admin=admin.user,
                    requester=request.user, company=request.company, link=link, reminder=reminder)


def remind(request: AccessRequest, user: User) -> bool:
    """Email the admins again, at most once per REMIND_INTERVAL; False when it is too soon."""
    if request.user_id != user.id or not request.is_pending:
        raise CompanyError(_("This request is no longer pending."))
    cutoff = utcnow() - REMIND_INTERVAL
    # One conditional UPDATE: two reminders racing each other cannot both pass.
    result = db.session.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request.id, AccessRequest.status == RequestStatus.PENDING,
               AccessRequest.created_at <= cutoff,
               or_(AccessRequest.reminded_at.is_(None), AccessRequest.reminded_at <= cutoff))
        .values(reminded_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    db.session.refresh(request)
    _notify_admins(request, reminder=True)
    audit.record("access_request.reminded", user=user, actor=user, company=request.company,
                 request=request.public_id)
    db.session.commit()
    return True


def withdraw(request: AccessRequest, user: User) -> None:
    if request.user_id != user.id or not decide_pending(request, RequestStatus.WITHDRAWN, user.id):
        raise CompanyError(_("This request is no longer pending."))
    audit.record("access_request.withdrawn", user=user, actor=user, company=request.company,
                 request=request.public_id)
    db.session.commit()


def approve(request: AccessRequest, actor: User, role: str, branch: str | None = None) -> Membership:
    """Grant the requested access with `role`; the requester is told by email."""
    role = check_role(role)
    branch = check_branch(branch, request.company)
    if not decide_pending(request, RequestStatus.APPROVED, actor.id, role=role, branch=branch):
        raise CompanyError(_("This request was already decided."))
    membership = grant_membership(request.user, request.company, role, branch)[0]
    audit.record("access_request.approved", user=request.user, actor=actor, company=request.company,
                 request=request.public_id, role=role, branch=branch)
    audit.record("membership.created", user=request.user, actor=actor, company=request.company, role=role,
                 admin=membership.is_admin, via="access_request")
    queue_email("access_approved", request.user.email, request.user.locale, user=request.user,
                company=request.company, role=role, link=current_app.config["IDP"].issuer + "/")
    db.session.commit()
    return membership


def reject(request: AccessRequest, actor: User, reason: str | None = None) -> None:
    """Refuse the request, with an optional reason told to the requester."""
    reason = (reason or "").strip()[:REASON_MAX] or None
    if not decide_pending(request, RequestStatus.REJECTED, actor.id, reason=reason):
        raise CompanyError(_("This request was already decided."))
    audit.record("access_request.rejected", user=request.user, actor=actor, company=request.company,
                 request=request.public_id)
    queue_email("access_rejected", request.user.email, request.user.locale, user=request.user,
                company=request.company, reason=reason)
    db.session.commit()


def _other_active_admins(membership: Membership) -> int:
    return sum(1 for m in active_admins(membership.company) if m.id != membership.id)


def _guard_last_admin(membership: Membership) -> None:
    # Under the company lock, so two admins demoting each other cannot both pass.
    lock_company(membership.company)
    if membership.is_admin and membership.is_active and _other_active_admins(membership) == 0:
        db.session.rollback()
        raise CompanyError(_("The last administrator of a company cannot be removed, demoted or deactivated."))


def _access_changed(user: User) -> None:
    """What a portal holds for the user may now be wrong: tell the protocol (signals.memberships_changed)."""
    signals.memberships_changed.send(user)


def change_role(membership: Membership, actor: User, role: str, branch: str | None) -> None:
    role = check_role(role)
    branch = check_branch(branch, membership.company)
    before = (membership.role, membership.branch)
    membership.role, membership.branch = role, branch
    audit.record("membership.role_changed", user=membership.user, actor=actor, company=membership.company,
                 role=role, branch=branch, before={"role": before[0], "branch": before[1]})
    _access_changed(membership.user)
    db.session.commit()


def set_admin(membership: Membership, actor: User, admin: bool) -> None:
    if admin and not membership.is_active:
        # Deactivation took the flag away (see `deactivate`); it comes back only to an active member.
        raise CompanyError(_("Reactivate this member before making them an administrator."))
    if not admin:
        _guard_last_admin(membership)
    membership.is_admin = admin
    audit.record("membership.admin_granted" if admin else "membership.admin_revoked", user=membership.user,
                 actor=actor, company=membership.company)
    _access_changed(membership.user)
    db.session.commit()


def deactivate(membership: Membership, actor: User) -> None:
    """Cut the member off. Deactivation clears the admin flag: no way back to activity (a
    reactivation, an invitation, an approval) brings administration back with it; role and
    branch stay, as the record of what `reactivate` restores."""
    _guard_last_admin(membership)
    was_admin = membership.is_admin
    membership.status, membership.is_admin = MembershipStatus.DISABLED, False
    audit.record("membership.deactivated", user=membership.user, actor=actor, company=membership.company,
                 admin_revoked=was_admin)
    api_keys.void_keys(membership.user, membership.company, actor, reason="membership_deactivated")
    _access_changed(membership.user)
    db.session.commit()


def reactivate(membership: Membership, actor: User) -> None:
    """Give the member their role and branch back, without the admin flag (see `deactivate`)."""
    # Set here too: a row deactivated before deactivation cleared the flag may still carry it.
    membership.status, membership.is_admin = MembershipStatus.ACTIVE, False
    audit.record("membership.reactivated", user=membership.user, actor=actor, company=membership.company)
    _access_changed(membership.user)
    db.session.commit()


def remove(membership: Membership, actor: User) -> None:
    _guard_last_admin(membership)
    user, company = membership.user, membership.company
    db.session.delete(membership)
    audit.record("membership.removed", user=user, actor=actor, company=company)
    api_keys.void_keys(user, company, actor, reason="membership_removed")
    _access_changed(user)
    db.session.commit()
