"""Joining a company: /companies/join (identifier + member code) and /companies/requests (mine, pending).

The first person to join a company becomes its admin at once; later ones file an access
request that the company's admins decide (idp.companies holds the rules). Wrong identifiers
and member codes are throttled per user and per IP: the member code is a short shared secret.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_time, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp import audit, companies
from idp.accounts import auth
from idp.extensions import db
from idp.flows import throttling
from idp.models import AccessRequest, Company, Membership, User
from idp.pipeline import Flow
from idp.security.throttling import FailureLimit, first_exhausted, per_ip
from idp.web.forms import ConfirmForm, Form

bp = Blueprint("company_join", __name__)


class JoinForm(Form):
    company_id = StringField(_l("Company identifier"), validators=[DataRequired(), Length(max=64)])
    member_code = StringField(_l("Member code"), validators=[DataRequired(), Length(max=128)])


def _limits(user: User) -> tuple[FailureLimit | None, ...]:
    rates = throttling()
    return (per_ip("join-ip", rates.company_join_per_ip),
            FailureLimit("join-user", rates.company_join_per_user, f"join-user:{user.id}"))


def _render(form: JoinForm, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("company_join/join.html", form=form, error=error), status


def _sign_in_first() -> ResponseReturnValue:
    return auth.sign_in_redirect("company_join.requests")


def _after_join() -> str:
    return url_for("tools.index") if "tools" in current_app.extensions["idp.flows"] else "/"


@bp.route("/companies/join", methods=["GET", "POST"])
def join() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _sign_in_first()
    form = JoinForm()
    if request.method != "POST":  # GET, or HEAD: the same page
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, None, 400)  # each field's message is beside it
    wrong = _("This company identifier and member code do not match.")
    limits = _limits(user)
    locked = first_exhausted(*limits)
    if locked is not None:
        # Throttled: the code is not checked, yet a comparison is paid for and the answer is that of
        # a wrong code, so that it does not tell that throttling began (idp.security.throttling).
        Company().check_member_code(form.member_code.data)
        audit.record("company.join_locked_out", user=user, scope=locked.scope)
        db.session.commit()
        return _render(form, wrong, 400)
    company = companies.find_company(form.company_id.data)
    # One message, and one hash comparison, whether the identifier is unknown or the code wrong.
    code_matches = (company or Company()).check_member_code(form.member_code.data)
    if company is None or not code_matches:
        for limit in limits:
            if limit is not None:
                limit.count()
        audit.record("company.join_failed", user=user, company=company, reason="bad_identifier_or_code")
        db.session.commit()
        return _render(form, wrong, 400)
    try:
        outcome = companies.join(user, company)
    except companies.CompanyError as exc:
        db.session.rollback()
        return _render(form, str(exc), 409)
    if isinstance(outcome, Membership):
        session.setdefault(auth.SESSION_COMPANY, company.public_id)
        flash(_("You are now the administrator of %(company)s.", company=company.name), "success")
        return redirect(_after_join())
    flash(_("Your access request was sent to the administrators of %(company)s.", company=company.name), "success")
    return redirect(url_for("company_join.requests"))


@bp.get("/companies/requests")
def requests() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _sign_in_first()
    pending = companies.requests_of(user)
    return render_template("company_join/requests.html", pending=pending,
                           can_remind={r.id: _can_remind(r) for r in pending},
                           remind_on={r.id: _remind_on(r) for r in pending},
                           has_companies=bool(companies.active_memberships(user)))


def _can_remind(access_request: AccessRequest) -> bool:
    from idp.models.base import utcnow

    cutoff = utcnow() - companies.REMIND_INTERVAL
    last = access_request.reminded_at or access_request.created_at
    return last <= cutoff


def _remind_on(access_request: AccessRequest) -> str:
    """When the person may remind the admins (again), in their language; the page shows it beside the
    greyed-out button. Rounded up to the minute, so that the time shown is never a moment too early."""
    # companies.remind waits a REMIND_INTERVAL after the filing and after the last reminder.
    last = max(access_request.created_at, access_request.reminded_at or access_request.created_at)
    when = last + companies.REMIND_INTERVAL
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    values = {"date": format_date(when, "full"), "time": format_time(when, "short"), "zone": str(get_timezone())}
    if access_request.reminded_at is not None:
        return _("You can remind the administrators again on %(date)s at %(time)s (%(zone)s).", **values)
    return _("You can remind the administrators from %(date)s at %(time)s (%(zone)s).", **values)


def _own_request(user: User, request_id: str) -> AccessRequest:
    """The user's own request; anyone else's is a 404 (not a 403: no hint that it exists)."""
    found = db.session.execute(
        db.select(AccessRequest).where(AccessRequest.public_id == request_id[:64], AccessRequest.user_id == user.id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def _confirmed_own_request(user: User, request_id: str) -> AccessRequest | None:
    """The user's own request once the button's form checks out (its CSRF token); None otherwise."""
    if not ConfirmForm().validate_on_submit():
        return None
    return _own_request(user, request_id)


@bp.post("/companies/requests/<request_id>/remind")
def remind(request_id: str) -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _sign_in_first()
    access_request = _confirmed_own_request(user, request_id)
    if access_request is None:
        return redirect(url_for("company_join.requests"))
    try:
        sent = companies.remind(access_request, user)
    except companies.CompanyError as exc:
        flash(str(exc), "error")
        return redirect(url_for("company_join.requests"))
    if sent:
        flash(_("The administrators were reminded of your request."), "success")
    else:
        flash(_("You can remind the administrators once a day."), "error")
    return redirect(url_for("company_join.requests"))


@bp.post("/companies/requests/<request_id>/withdraw")
def withdraw(request_id: str) -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _sign_in_first()
    access_request = _confirmed_own_request(user, request_id)
    if access_request is None:
        return redirect(url_for("company_join.requests"))
    try:
        companies.withdraw(access_request, user)
    except companies.CompanyError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Your request was withdrawn."), "success")
    return redirect(url_for("company_join.requests"))


flow = Flow(name="company_join", blueprint=bp, requires=("login",))
