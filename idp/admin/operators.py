"""The platform's operators (User.is_operator, `idp operators add EMAIL`): companies, users, account
requests, the audit log and the emails not delivered. Anyone else gets a 404 on every page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from idp import accounts, audit, mail
from idp.admin import labels, paging
from idp.admin.common import SignInFirst, not_found, sign_in_redirect, signed_in_user
from idp.admin.members import ConfirmedForm, RejectForm
from idp.companies import account_requests
from idp.extensions import db
from idp.models import AccountRequest, AuditEvent, Company, Membership, MfaFactor, RecoveryCode, User
from idp.models.requests import RequestStatus
from idp.models.users import email_key, normalize_username
from idp.security import mfa
from idp.security.restrictions import address_allowed
from idp.web.errors import error_response
from idp.web.forms import ConfirmForm, Form
from idp.web.second_factor import step_up_for_admin

bp = Blueprint("admin_operator", __name__, url_prefix="/admin/operator")
bp.context_processor(labels.template_helpers)

PAGE = 100
SEARCH_MAX = 100


def operator(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Only an active operator gets past; anyone else is told nothing exists here (404)."""

    @wraps(view)
    def wrapper(**kwargs: Any) -> ResponseReturnValue:
        try:
            user = signed_in_user()
        except SignInFirst:
            return sign_in_redirect()
        if not user.is_operator:
            raise not_found()
        stepping_up = step_up_for_admin(user)
        if stepping_up is not None:
            return stepping_up
        if not address_allowed(request.remote_addr, current_app.config["IDP"].operators.allowed_networks):
            # operators.allowed_networks, the security team's rule (told only to operators: others got a 404).
            audit.record("operator.network_refused", user=user)
            db.session.commit()
            return error_response(403, _("The operator pages can be used only from the networks the security team "
                                         "has allowed. Please connect from one of them."), "access_denied")
        return view(user, **kwargs)

    return wrapper


def _search() -> str:
    return (request.args.get("q") or "").strip()[:SEARCH_MAX]


@bp.get("/")
@operator
def index(user: User) -> ResponseReturnValue:
    pending = db.session.execute(
        select(func.count()).select_from(AccountRequest).where(AccountRequest.status == RequestStatus.PENDING)
    ).scalar_one()
    return render_template("admin/operator/index.html", pending=pending, undelivered=mail.count_undelivered())


@bp.get("/mail")
@operator
def undelivered_mail(user: User) -> ResponseReturnValue:
    """The emails that failed: who they were for, the error, when they are tried again (never the body,
    which may hold a single-use link)."""
    return render_template("admin/operator/mail.html", messages=mail.undelivered(PAGE),
                           max_attempts=current_app.config["IDP"].mail.max_attempts)


@bp.get("/companies")
@operator
def companies(user: User) -> ResponseReturnValue:
    q = _search()
    sort = "identifier" if request.args.get("sort") == "identifier" else "name"
    query = select(Company)
    if q:
        # The start of the name or of the identifier, in any case (trigram indexes on PostgreSQL).
        pattern = paging.prefix_pattern(q)
        query = query.where(or_(Company.name.ilike(pattern, escape="\\"),
                                Company.external_id.ilike(pattern, escape="\\")))
    if sort == "identifier":
        page = paging.keyset_page(query, (Company.external_id,), lambda c: [c.external_id])
    else:
        page = paging.keyset_page(query, (Company.name, Company.id), lambda c: [c.name, c.id])
    counts = dict(db.session.execute(
        select(Membership.company_id, func.count())
        .where(Membership.company_id.in_([c.id for c in page.rows])).group_by(Membership.company_id)
    ).all())
    return render_template("admin/operator/companies.html", page=page, counts=counts, q=q, sort=sort)


@bp.get("/users")
@operator
def users(user: User) -> ResponseReturnValue:
    q = _search()
    page = paging.Page(rows=[], total=0)
    if q:
        # Memberships and their companies come in two statements for the whole page (selectinload).
        query = select(User).where(_user_search(q)).options(
            selectinload(User.memberships).selectinload(Membership.company))
        page = paging.keyset_page(query, (User.email_key,), lambda u: [u.email_key])
    rows = page.rows
    # Whose two-step verification there is to reset: their factors or recovery codes.
    ids = [row.id for row in rows]
    with_mfa = {user_id for model in (MfaFactor, RecoveryCode)
                for user_id in db.session.execute(select(model.user_id).where(model.user_id.in_(ids))).scalars()}
    return render_template("admin/operator/users.html", users=rows, page=page, q=q, form=ConfirmForm(),
                           with_mfa=with_mfa)


def _user_search(q: str) -> Any:
    """What the operators' search matches, each condition served by an index (see models.users):
    an address or a username exactly or by its start, a domain (`example.com` or `@example.com`),
    a family or given name by its start in any case."""
    key = email_key(q)
    prefix = paging.prefix_pattern(key)
    conditions = [User.email_key == key, User.email_key.like(prefix, escape="\\")]
    domain = q.lstrip("@")
    if "@" not in domain and "." in domain:
        # A whole domain: the end of the address (a scan; operators look for one company's people).
        conditions.append(User.email_key.like("%@" + paging.prefix_pattern(email_key(domain))[:-1], escape="\\"))
    if "@" not in q:
        name = paging.prefix_pattern(q)
        conditions += [User.username == normalize_username(q),
                       User.username.like(paging.prefix_pattern(normalize_username(q)), escape="\\"),
                       User.family_name.ilike(name, escape="\\"), User.given_name.ilike(name, escape="\\")]
    return or_(*conditions)


def _person_action(user_id: str, confirmation: Callable[[User, str], dict[str, str]],
                   act: Callable[[User], None]) -> ResponseReturnValue:
    """An operator's action on a person: its confirmation page first (GET, or a POST that did not
    come from that page), then `act`; back to the users page found on the person's address."""
    target = db.session.execute(select(User).where(User.public_id == user_id[:64])).scalar_one_or_none()
    if target is None:
        raise not_found()
    form = ConfirmedForm()
    confirmed = request.method == "POST" and form.validate_on_submit()
    if form.csrf_token.errors:
        flash(_("The form was not filled in correctly."), "error")
    elif not confirmed:
        return render_template("admin/confirm.html", action=request.path,
                               cancel=url_for("admin_operator.users", q=target.email),
                               **confirmation(target, target.name or target.email))
    else:
        act(target)
    return redirect(url_for("admin_operator.users", q=target.email))


@bp.route("/users/<user_id>/disable", methods=["GET", "POST"])
@operator
def disable_user(user: User, user_id: str) -> ResponseReturnValue:
    def confirmation(target: User, person: str) -> dict[str, str]:
        return {"title": _("Disable the account of %(person)s?", person=person),
                "explanation": _("%(person)s (%(email)s) is signed out everywhere, the portals' tokens stop working "
                                 "and the account can no longer sign in. It cannot be enabled again from these pages.",
                                 person=person, email=target.email),
                "button": _("Disable the account of %(person)s", person=person)}

    def disable(target: User) -> None:
        if target.id == user.id:
            flash(_("You cannot disable your own account."), "error")
            return
        accounts.disable_user(target.email, actor=user)
        flash(_("The account of %(email)s was disabled.", email=target.email), "success")

    return _person_action(user_id, confirmation, disable)


@bp.route("/users/<user_id>/reset-mfa", methods=["GET", "POST"])
@operator
def reset_mfa(user: User, user_id: str) -> ResponseReturnValue:
    """Remove every second factor of a person who lost theirs (the confirmation page first)."""
    def confirmation(target: User, person: str) -> dict[str, str]:
        return {"title": _("Reset the two-step verification of %(person)s?", person=person),
                "explanation": _("Every second factor (authenticator apps, security keys, passkeys) and every "
                                 "recovery code of %(person)s (%(email)s) is removed, and they are told by email. "
                                 "Their password alone then signs them in, until they set up a new factor. Do it "
                                 "only once you are sure that you are talking to %(person)s.",
                                 person=person, email=target.email),
                "button": _("Reset the two-step verification of %(person)s", person=person)}

    def reset(target: User) -> None:
        removed = mfa.reset(target, actor=user)
        db.session.commit()
        flash(ngettext("Two-step verification of %(email)s was reset: %(num)d factor removed. They can set up a "
                       "new one at their next sign-in.",
                       "Two-step verification of %(email)s was reset: %(num)d factors removed. They can set up a "
                       "new one at their next sign-in.", removed, email=target.email), "success")

    return _person_action(user_id, confirmation, reset)


@bp.get("/audit")
@operator
def audit_log(user: User) -> ResponseReturnValue:
    # Each filter is an indexed column (ix_audit_events_*_id, created_at): the event by its exact
    # name, the person (about them or by them) by their address, the company by its identifier,
    # and a range of days in the page's time zone. Newest first; no total (a COUNT of the whole log
    # would cost more than the page).
    event = (request.args.get("event") or "").strip()[:64]
    person = (request.args.get("person") or "").strip()[:254]
    company = (request.args.get("company") or "").strip()[:64]
    since, until = _day(request.args.get("from")), _day(request.args.get("to"))
    query = select(AuditEvent)
    problems = []
    if event:
        query = query.where(AuditEvent.event == event)
    if person:
        found = User.find_by_login(person)
        if found is None:
            problems.append(_("No account has the address or username %(login)s.", login=person))
        query = query.where(or_(AuditEvent.user_id == (found.id if found else -1),
                                AuditEvent.actor_id == (found.id if found else -1)))
    if company:
        found_company = db.session.execute(
            select(Company).where(func.lower(Company.external_id) == company.lower()).limit(1)
        ).scalar_one_or_none() if len(company) <= 64 else None
        if found_company is None:
            problems.append(_("No company has the identifier %(identifier)s.", identifier=company))
        query = query.where(AuditEvent.company_id == (found_company.id if found_company else -1))
    zone = get_timezone()  # pytz: localize(), never tzinfo= (which takes the zone's first offset)
    if since is not None:
        query = query.where(AuditEvent.created_at >= zone.localize(datetime.combine(since, time.min)))
    if until is not None:
        query = query.where(AuditEvent.created_at < zone.localize(datetime.combine(until + timedelta(days=1),
                                                                                   time.min)))
    page = paging.keyset_page(query, (AuditEvent.id,), lambda e: [e.id], descending=True, count=False)
    rows = page.rows
    people = {u.id: u for u in db.session.execute(
        select(User).where(User.id.in_({r.user_id for r in rows} | {r.actor_id for r in rows}))
    ).scalars()}
    company_names = dict(db.session.execute(
        select(Company.id, Company.name).where(Company.id.in_({r.company_id for r in rows}))
    ).all())
    # Every known event by its label; a filter typed into the address (a prefix) stays selectable too.
    choices = sorted(((code, str(label)) for code, label in labels.EVENTS.items()), key=lambda choice: choice[1])
    if event and event not in labels.EVENTS:
        choices.insert(0, (event, event))
    filters = {"event": event, "person": person, "company": company, "from": request.args.get("from") or "",
               "to": request.args.get("to") or ""}
    return render_template("admin/operator/audit.html", events=rows, people=people, company_names=company_names,
                           event=event, event_choices=choices, page=page, filters=filters, problems=problems)


def _day(text: str | None) -> date | None:
    """A day typed in a date field (YYYY-MM-DD); None for none or anything else."""
    try:
        return date.fromisoformat((text or "").strip()[:10]) if text else None
    except ValueError:
        return None


@bp.get("/account-requests")
@operator
def account_request_list(user: User) -> ResponseReturnValue:
    # Newest first, by status (an index) and the start of the customer number or company name.
    q = _search()
    status = request.args.get("status") if request.args.get("status") in labels.REQUEST_STATUSES else ""
    query = select(AccountRequest)
    if status:
        query = query.where(AccountRequest.status == status)
    if q:
        pattern = paging.prefix_pattern(q)
        query = query.where(or_(AccountRequest.customer_number.ilike(pattern, escape="\\"),
                                AccountRequest.company_name.ilike(pattern, escape="\\")))
    page = paging.keyset_page(query, (AccountRequest.id,), lambda r: [r.id], descending=True)
    return render_template("admin/operator/account_requests.html", page=page, requests=page.rows, q=q,
                           status=status)


def _account_request(request_id: str) -> AccountRequest:
    found = db.session.execute(
        select(AccountRequest).where(AccountRequest.public_id == request_id[:64])
    ).scalar_one_or_none()
    if found is None:
        raise not_found()
    return found


@bp.get("/account-requests/<request_id>")
@operator
def account_request(user: User, request_id: str) -> ResponseReturnValue:
    found = _account_request(request_id)
    return render_template("admin/operator/account_request.html", account_request=found, form=ConfirmForm(),
                           reject_form=RejectForm())


def _decide(request_id: str, form: Form, decide: Callable[[AccountRequest], str]) -> ResponseReturnValue:
    """Submit the decision `decide` (which returns what to tell the operator) and go back to the request."""
    found = _account_request(request_id)
    if not form.validate_on_submit():
        flash(_("The form was not filled in correctly."), "error")
    else:
        try:
            done = decide(found)
        except account_requests.AccountRequestError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(done, "success")
    return redirect(url_for("admin_operator.account_request", request_id=found.public_id))


@bp.post("/account-requests/<request_id>/approve")
@operator
def approve_account_request(user: User, request_id: str) -> ResponseReturnValue:
    def approve(found: AccountRequest) -> str:
        created = account_requests.approve(found, user)
        return ngettext("Request approved: %(num)d account created.", "Request approved: %(num)d accounts created.",
                        created)

    return _decide(request_id, ConfirmForm(), approve)


@bp.post("/account-requests/<request_id>/reject")
@operator
def reject_account_request(user: User, request_id: str) -> ResponseReturnValue:
    form = RejectForm()

    def reject(found: AccountRequest) -> str:
        account_requests.reject(found, user, form.reason.data)
        return _("The request was rejected.")

    return _decide(request_id, form, reject)
