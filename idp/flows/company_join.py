"""Joining a company: /companies/join (identifier + member code) and /companies/requests (mine, pending).

The first person to join a company becomes its admin at once; later ones file an access
request that the company's admins decide (idp.companies holds the rules). Wrong identifiers
and member codes are throttled per user and per IP: the member code is a short shared secret.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp import audit, companies
from idp.accounts import auth
from idp.extensions import db, limiter
from idp.flows import throttling
from idp.models import AccessRequest, Company, Membership, User
from idp.pipeline import Flow
from idp.web.forms import ConfirmForm, Form

bp = Blueprint("company_join", __name__)


class JoinForm(Form):
    company_id = StringField(_l("Company identifier"), validators=[DataRequired(), Length(max=64)])
    member_code = StringField(_l("Member code"), validators=[DataRequired(), Length(max=128)])


def _user_key() -> str:
    user = auth.current_user()
    return f"join-user:{user.id if user is not None else 'anonymous'}"


def _failed(_response: object) -> bool:
    return bool(g.get("join_failed"))


def _breached(_limit: RequestLimit) -> Response:
    user = auth.current_user()
    audit.record("company.join_locked_out", user=user)
    db.session.commit()
    # Flask-Limiter uses on_breach's value as the response only when it is a Response object.
    return make_response(_render(JoinForm(), _("Too many failed attempts. Please wait a while and try again."), 429))


def _render(form: JoinForm, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("company_join/join.html", form=form, error=error), status


def _sign_in_first() -> ResponseReturnValue:
    return auth.sign_in_redirect("company_join.requests")


def _after_join() -> str:
    return url_for("tools.index") if "tools" in current_app.extensions["idp.flows"] else "/"


@bp.route("/companies/join", methods=["GET", "POST"])
@limiter.limit(lambda: throttling().company_join_per_ip, key_func=get_remote_address, methods=["POST"],
               deduct_when=_failed, on_breach=_breached, scope="join-ip")
@limiter.limit(lambda: throttling().company_join_per_user, key_func=_user_key, methods=["POST"],
               deduct_when=_failed, on_breach=_breached, scope="join-user")
def join() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _sign_in_first()
    form = JoinForm()
    if request.method == "GET":
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, _("Enter the company identifier and its member code."), 400)
    company = companies.find_company(form.company_id.data)
    # One message, and one hash comparison, whether the identifier is unknown or the code wrong.
    code_matches = (company or Company()).check_member_code(form.member_code.data)
    if company is None or not code_matches:
        g.join_failed = True
        audit.record("company.join_failed", user=user, company=company, reason="bad_identifier_or_code")
        db.session.commit()
        return _render(form, _("This company identifier and member code do not match."), 400)
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
                           has_companies=bool(companies.active_memberships(user)))


def _can_remind(access_request: AccessRequest) -> bool:
    from idp.models.base import utcnow

    cutoff = utcnow() - companies.REMIND_INTERVAL
    last = access_request.reminded_at or access_request.created_at
    return last <= cutoff


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
