"""The platform's operators (User.is_operator, `idp operators add EMAIL`): companies, users, account
requests, the audit log and the emails not delivered. Anyone else gets a 404 on every page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, or_, select

from idp import accounts, mail
from idp.admin import labels
from idp.admin.common import SignInFirst, not_found, sign_in_redirect, signed_in_user
from idp.admin.members import ConfirmedForm, RejectForm
from idp.companies import account_requests
from idp.extensions import db
from idp.models import AccountRequest, AuditEvent, Company, Membership, User
from idp.models.requests import RequestStatus
from idp.models.users import email_key
from idp.web.forms import ConfirmForm, Form

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
        return view(user, **kwargs)

    return wrapper


def _search() -> str:
    return (request.args.get("q") or "").strip()[:SEARCH_MAX]


def _like(text: str, fold: Callable[[str], str] = str.casefold) -> str:
    escaped = fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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
    query = select(Company).order_by(Company.name, Company.id).limit(PAGE)
    if q:
        query = query.where(or_(func.lower(Company.name).like(_like(q), escape="\\"),
                                func.lower(Company.external_id).like(_like(q), escape="\\")))
    rows = db.session.execute(query).scalars().all()
    counts = dict(db.session.execute(
        select(Membership.company_id, func.count())
        .where(Membership.company_id.in_([c.id for c in rows])).group_by(Membership.company_id)
    ).all())
    return render_template("admin/operator/companies.html", companies=rows, counts=counts, q=q)


@bp.get("/users")
@operator
def users(user: User) -> ResponseReturnValue:
    q = _search()
    rows: list[User] = []
    if q:
        rows = list(db.session.execute(
            select(User).where(or_(User.email_key.like(_like(q, email_key), escape="\\"),
                                   User.username.like(_like(q), escape="\\"),
                                   func.lower(User.family_name).like(_like(q), escape="\\")))
            .order_by(User.email).limit(PAGE)
        ).scalars().all())
    return render_template("admin/operator/users.html", users=rows, q=q, form=ConfirmForm())


@bp.route("/users/<user_id>/disable", methods=["GET", "POST"])
@operator
def disable_user(user: User, user_id: str) -> ResponseReturnValue:
    """Its confirmation page first (GET, or a POST that did not come from that page), then the change."""
    target = db.session.execute(select(User).where(User.public_id == user_id[:64])).scalar_one_or_none()
    if target is None:
        raise not_found()
    form = ConfirmedForm()
    confirmed = request.method == "POST" and form.validate_on_submit()
    if form.csrf_token.errors:
        flash(_("The form was not filled in correctly."), "error")
    elif not confirmed:
        person = target.name or target.email
        return render_template(
            "admin/confirm.html", action=request.path, cancel=url_for("admin_operator.users", q=target.email),
            title=_("Disable the account of %(person)s?", person=person),
            explanation=_("%(person)s (%(email)s) is signed out everywhere, the portals' tokens stop working and "
                          "the account can no longer sign in. It cannot be enabled again from these pages.",
                          person=person, email=target.email),
            button=_("Disable the account of %(person)s", person=person))
    elif target.id == user.id:
        flash(_("You cannot disable your own account."), "error")
    else:
        accounts.disable_user(target.email, actor=user)
        flash(_("The account of %(email)s was disabled.", email=target.email), "success")
    return redirect(url_for("admin_operator.users", q=target.email))


@bp.get("/audit")
@operator
def audit_log(user: User) -> ResponseReturnValue:
    event = (request.args.get("event") or "").strip()[:64]
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE)
    if event:
        query = query.where(AuditEvent.event.like(_like(event), escape="\\"))
    rows = db.session.execute(query).scalars().all()
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
    return render_template("admin/operator/audit.html", events=rows, people=people, company_names=company_names,
                           event=event, event_choices=choices)


@bp.get("/account-requests")
@operator
def account_request_list(user: User) -> ResponseReturnValue:
    rows = db.session.execute(
        select(AccountRequest).order_by(AccountRequest.status != RequestStatus.PENDING, AccountRequest.id.desc())
        .limit(PAGE)
    ).scalars().all()
    return render_template("admin/operator/account_requests.html", requests=rows)


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
