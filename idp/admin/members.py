"""Company administration for the admins of a company: members, access requests, invitations.

Every company id in a path is resolved through the acting person's own active admin
memberships of active companies, and every member or request id through that company: anything
else is a 404 (never a 403, so an outsider learns nothing about what exists). Every change is
audited by idp.companies and idp.companies.invitations.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from idp import audit, companies
from idp.admin import labels, paging
from idp.admin.common import SignInFirst, not_found, sign_in_redirect, signed_in_user
from idp.companies import invitations, restrictions
from idp.extensions import db
from idp.models import AccessRequest, ApiKey, Company, Invitation, Membership, User
from idp.models.base import utcnow
from idp.models.companies import MembershipStatus
from idp.models.requests import RequestStatus
from idp.security import api_keys
from idp.web.errors import error_response
from idp.web.forms import ConfirmForm, Form, control_character_errors
from idp.web.i18n import current_language
from idp.web.second_factor import step_up_for_admin

bp = Blueprint("admin_companies", __name__, url_prefix="/admin")
bp.context_processor(labels.template_helpers)


def _role_choices() -> list[tuple[str, str]]:
    language = current_language()
    return [(key, text.get(language)) for key, text in current_app.config["IDP"].roles.items()]


class RoleForm(Form):
    role = SelectField(_l("Role"), validators=[DataRequired()], validate_choice=False)
    branch = StringField(_l("Branch"), validators=[Optional(), Length(max=companies.BRANCH_MAX)])


class RejectForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=companies.REASON_MAX)])


class AdminFlagForm(Form):
    admin = StringField(validators=[DataRequired(), Length(max=1)])


def _company_of(user: User, company_id: str) -> Company:
    """The company `company_id` if it is active and `user` is one of its active admins; otherwise 404."""
    found = db.session.execute(
        select(Company).join(Membership, Membership.company_id == Company.id)
        .where(Company.public_id == company_id[:64], Company.active.is_(True), Membership.user_id == user.id,
               Membership.is_admin.is_(True), Membership.status == MembershipStatus.ACTIVE)
    ).scalar_one_or_none()
    if found is None or not user.is_active:
        raise not_found()
    return found


def _member_of(company: Company, user_id: str) -> Membership:
    found = db.session.execute(
        select(Membership).join(User, Membership.user_id == User.id)
        .where(Membership.company_id == company.id, User.public_id == user_id[:64])
    ).scalar_one_or_none()
    if found is None:
        raise not_found()
    return found


def _request_of(company: Company, request_id: str) -> AccessRequest:
    found = db.session.execute(
        select(AccessRequest).where(AccessRequest.company_id == company.id,
                                    AccessRequest.public_id == request_id[:64])
    ).scalar_one_or_none()
    if found is None:
        raise not_found()
    return found


def company_admin(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Resolve `company_id` to a company the signed-in person administers, or 404 / sign in."""

    @wraps(view)
    def wrapper(company_id: str, **kwargs: Any) -> ResponseReturnValue:
        try:
            user = signed_in_user()
        except SignInFirst:
            return sign_in_redirect()
        company = _company_of(user, company_id)
        stepping_up = step_up_for_admin(user, company.public_id)
        if stepping_up is not None:
            return stepping_up
        if not restrictions.is_allowed_from(restrictions.membership_in(user, company.public_id), request.remote_addr):
            # The admin's own allowed_ips for this company hold on its admin pages too.
            audit.record("admin.address_refused", user=user, company=company)
            db.session.commit()
            return error_response(403, _("Your access to %(company)s is limited to certain network addresses, and "
                                         "this page was opened from another one.", company=company.name),
                                  "access_denied")
        return view(user, company, **kwargs)

    return wrapper


def _members_page(company: Company) -> str:
    return url_for("admin_companies.members", company_id=company.public_id)


@bp.get("/")
def index() -> ResponseReturnValue:
    try:
        user = signed_in_user()
    except SignInFirst:
        return sign_in_redirect()
    return render_template("admin/index.html", memberships=companies.memberships_for_admin(user),
                           is_operator=user.is_operator)


# The members list: one row per member, its actions on the member's own page (a page of 50
# members is 50 links, not 250 forms). Sorted by name, role or status; a search matches the
# start of the email address, the family name or the given name.
MEMBER_SORTS = {
    "name": lambda: (User.family_name, User.given_name, User.id),
    "role": lambda: (Membership.role, User.family_name, User.given_name, User.id),
    "status": lambda: (Membership.status, User.family_name, User.given_name, User.id),
}


def _member_key(sort: str) -> Callable[[Membership], list[Any]]:
    def key(m: Membership) -> list[Any]:
        values = [m.user.family_name, m.user.given_name, m.user.id]
        return ([m.role] if sort == "role" else [m.status] if sort == "status" else []) + values
    return key


def _person_search(q: str) -> Any:
    """Rows whose email address, family name or given name starts with `q` (see idp.admin.paging)."""
    from idp.models.users import email_key

    # Each condition has its index (models.users): PostgreSQL reads the few matching people, not them all.
    pattern = paging.prefix_pattern(q)
    return or_(User.email_key.like(paging.prefix_pattern(email_key(q)), escape="\\"),
               User.family_name.ilike(pattern, escape="\\"), User.given_name.ilike(pattern, escape="\\"))


@bp.get("/companies/<company_id>/members")
@company_admin
def members(user: User, company: Company) -> ResponseReturnValue:
    q = paging.search_text()
    sort = request.args.get("sort") if request.args.get("sort") in MEMBER_SORTS else "name"
    query = (select(Membership).join(Membership.user).options(contains_eager(Membership.user))
             .where(Membership.company_id == company.id))
    if q:
        query = query.where(_person_search(q))
    page = paging.keyset_page(query, MEMBER_SORTS[sort](), _member_key(sort), count=bool(q))
    if not q:
        # Without a search, the count needs no person: an index-only count of the company's rows.
        page.total = db.session.execute(
            select(func.count()).select_from(Membership).where(Membership.company_id == company.id)).scalar_one()
    pending = db.session.execute(
        select(func.count()).select_from(AccessRequest)
        .where(AccessRequest.company_id == company.id, AccessRequest.status == RequestStatus.PENDING)
    ).scalar_one()
    # Each label once per page, not once per row.
    statuses = {code: str(label) for code, label in labels.MEMBERSHIP_STATUSES.items()}
    roles = dict(_role_choices())
    return render_template("admin/members.html", company=company, page=page, q=q, sort=sort, pending=pending,
                           statuses=statuses, roles=roles, can_invite=_can_invite(),
                           yes=_("Yes"), no=_("No"), manage=_("Manage"), any_address=_("Any address"))


def _can_invite() -> bool:
    return "invitation" in current_app.extensions["idp.flows"]


def _apply(action: Callable[[], object], done: str, back: str) -> ResponseReturnValue:
    """Carry out `action` and go back to `back`, telling the admin `done` or why it was refused."""
    try:
        action()
    except (companies.CompanyError, invitations.InvitationError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        # The membership changes commit themselves; the invitation ones leave it to the caller.
        db.session.commit()
        flash(done, "success")
    return redirect(back)


def _invalid(back: str, form: Form | None = None) -> ResponseReturnValue:
    flash(_problem(form, _("The form was not filled in correctly.")), "error")
    return redirect(back)


def _problem(form: Form | None, default: str) -> str:
    """What these pages say of a refused form: a field refused for its characters by name, else `default`."""
    refused = control_character_errors(form) if form is not None else []
    return refused[0] if refused else default


def _confirmed(action: Callable[[], object], done: str, back: str) -> ResponseReturnValue:
    """`_apply` for the one-button forms, which carry nothing but their CSRF token."""
    if not ConfirmForm().validate_on_submit():
        return _invalid(back)
    return _apply(action, done, back)


@bp.post("/companies/<company_id>/members/<user_id>/role")
@company_admin
def change_role(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    back = _member_page(company, membership)
    form = RoleForm()
    if not form.validate_on_submit():
        return _invalid(back, form)
    return _apply(lambda: companies.change_role(membership, user, form.role.data, form.branch.data),
                  _("The role was changed."), back)


@bp.post("/companies/<company_id>/members/<user_id>/admin")
@company_admin
def set_admin(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    back = _member_page(company, membership)
    form = AdminFlagForm()
    if not form.validate_on_submit() or form.admin.data not in ("0", "1"):
        return _invalid(back)
    grant = form.admin.data == "1"
    return _apply(lambda: companies.set_admin(membership, user, grant),
                  _("Administrator rights granted.") if grant else _("Administrator rights taken back."), back)


def _member_change(user: User, company: Company, user_id: str, change: Callable[[Membership, User], None],
                   done: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    return _confirmed(lambda: change(membership, user), done, _member_page(company, membership))


class ConfirmedForm(Form):
    """The button of a confirmation page: its CSRF token and `confirm=yes`, which only that page sends."""

    confirm = HiddenField(validators=[DataRequired(), AnyOf(["yes"])])


def _person(membership: Membership) -> str:
    return membership.user.name or membership.user.email


def _destructive(user: User, company: Company, user_id: str, change: Callable[[Membership, User], None],
                 done: str, page: Callable[[Membership], dict[str, str]]) -> ResponseReturnValue:
    """A change that cuts a member off: its confirmation page first (GET, or a POST that did not
    come from that page), and the change only when the page's own button is pressed."""
    membership = _member_of(company, user_id)
    if request.method == "POST":
        form = ConfirmedForm()
        if form.validate_on_submit():
            return _apply(lambda: change(membership, user), done, _members_page(company))
        if form.csrf_token.errors:
            return _invalid(_members_page(company))
    return render_template("admin/confirm.html", action=request.path, cancel=_member_page(company, membership),
                           **page(membership))


def _deactivate_page(membership: Membership) -> dict[str, str]:
    person, company = _person(membership), membership.company.name
    return {"title": _("Deactivate %(person)s?", person=person),
            "explanation": _("%(person)s (%(email)s) will no longer have access to the portals for %(company)s "
                             "and is signed out of them now. You can reactivate them later.",
                             person=person, email=membership.user.email, company=company),
            "button": _("Deactivate %(person)s", person=person)}


def _remove_page(membership: Membership) -> dict[str, str]:
    person, company = _person(membership), membership.company.name
    return {"title": _("Remove %(person)s from %(company)s?", person=person, company=company),
            "explanation": _("%(person)s (%(email)s) will no longer be a member of %(company)s and loses access "
                             "to its portals now. Their account stays; to come back, they must be invited or ask "
                             "to join again.", person=person, email=membership.user.email, company=company),
            "button": _("Remove %(person)s from the company", person=person)}


@bp.route("/companies/<company_id>/members/<user_id>/deactivate", methods=["GET", "POST"])
@company_admin
def deactivate(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    return _destructive(user, company, user_id, companies.deactivate, _("The member was deactivated."),
                        _deactivate_page)


@bp.post("/companies/<company_id>/members/<user_id>/reactivate")
@company_admin
def reactivate(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    return _member_change(user, company, user_id, companies.reactivate, _("The member was reactivated."))


@bp.route("/companies/<company_id>/members/<user_id>/remove", methods=["GET", "POST"])
@company_admin
def remove(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    return _destructive(user, company, user_id, companies.remove, _("The member was removed."), _remove_page)


@bp.get("/companies/<company_id>/requests")
@company_admin
def requests(user: User, company: Company) -> ResponseReturnValue:
    q = paging.search_text()
    # The requesters come with the requests (one statement, not one per request).
    query = (select(AccessRequest).join(AccessRequest.user).options(contains_eager(AccessRequest.user))
             .where(AccessRequest.company_id == company.id, AccessRequest.status == RequestStatus.PENDING))
    if q:
        query = query.where(_person_search(q))
    page = paging.keyset_page(query, (AccessRequest.created_at, AccessRequest.id), lambda r: [r.created_at, r.id])
    return render_template("admin/requests.html", company=company, page=page, q=q)


@bp.get("/companies/<company_id>/requests/<request_id>")
@company_admin
def request_detail(user: User, company: Company, request_id: str) -> ResponseReturnValue:
    access_request = _request_of(company, request_id)
    return _decision_page(company, access_request, RoleForm(), RejectForm())


def _decision_page(company: Company, access_request: AccessRequest, role_form: RoleForm, reject_form: RejectForm,
                   error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("admin/request.html", company=company, access_request=access_request,
                           role_form=role_form, reject_form=reject_form, role_choices=_role_choices(),
                           error=error), status


@bp.post("/companies/<company_id>/requests/<request_id>/approve")
@company_admin
def approve(user: User, company: Company, request_id: str) -> ResponseReturnValue:
    access_request = _request_of(company, request_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _decision_page(company, access_request, form, RejectForm(), _problem(form, _("Choose a role.")), 400)
    try:
        companies.approve(access_request, user, form.role.data, form.branch.data)
    except companies.CompanyError as exc:
        db.session.rollback()
        return _decision_page(company, access_request, form, RejectForm(), str(exc), 409)
    flash(_("Access granted to %(name)s.", name=access_request.user.name or access_request.user.email), "success")
    return redirect(_members_page(company))


@bp.post("/companies/<company_id>/requests/<request_id>/reject")
@company_admin
def reject(user: User, company: Company, request_id: str) -> ResponseReturnValue:
    access_request = _request_of(company, request_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _decision_page(company, access_request, RoleForm(), form,
                              _problem(form, _("The reason is too long.")), 400)
    try:
        companies.reject(access_request, user, form.reason.data)
    except companies.CompanyError as exc:
        db.session.rollback()
        return _decision_page(company, access_request, RoleForm(), form, str(exc), 409)
    flash(_("The request was rejected."), "success")
    return redirect(_members_page(company))


ALLOWED_IPS_MAX = 4000  # characters: MAX_ENTRIES networks of the longest form, with separators


class InviteForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), validators=[DataRequired()], validate_choice=False)
    branch = StringField(_l("Branch"), validators=[Optional(), Length(max=companies.BRANCH_MAX)])
    allowed_ips = TextAreaField(_l("Allowed addresses"), validators=[Optional(), Length(max=ALLOWED_IPS_MAX)])


def _require_invitations() -> None:
    """Nothing to see here (404) when the invitation flow is off."""
    if not _can_invite():
        raise not_found()


def _invitation_of(company: Company, invitation_id: int) -> Invitation:
    found = db.session.execute(
        select(Invitation).where(Invitation.company_id == company.id, Invitation.id == invitation_id)
    ).scalar_one_or_none()
    if found is None:
        raise not_found()
    return found


def _invite_page(company: Company, form: InviteForm, error: str | None = None,
                 status: int = 200) -> ResponseReturnValue:
    _require_invitations()
    q = paging.search_text()
    query = select(Invitation).where(Invitation.company_id == company.id, Invitation.accepted_at.is_(None),
                                     Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
    if q:
        query = query.where(Invitation.email.like(paging.prefix_pattern(q), escape="\\"))
    page = paging.keyset_page(query, (Invitation.id,), lambda i: [i.id])
    return render_template("admin/invite.html", company=company, form=form, role_choices=_role_choices(),
                           page=page, q=q, error=error), status


@bp.route("/companies/<company_id>/invite", methods=["GET", "POST"])
@company_admin
def invite(user: User, company: Company) -> ResponseReturnValue:
    _require_invitations()
    form = InviteForm()
    if not form.is_submitted():
        return _invite_page(company, form)
    if not form.validate_on_submit():
        return _invite_page(company, form, _problem(form, _("Enter an email address and choose a role.")), 400)
    try:
        # Checked here as well, for the admin's wording: invitations.invite names every role, for the CLI.
        companies.check_role(form.role.data)
        invitations.invite(company, form.email.data, form.role.data, branch=form.branch.data, actor=user,
                           locale=current_language(), allowed_ips=form.allowed_ips.data)
    except (companies.CompanyError, invitations.InvitationError) as exc:
        db.session.rollback()
        return _invite_page(company, form, str(exc), 400)
    db.session.commit()
    flash(_("An invitation was sent to %(email)s.", email=form.email.data.strip()), "success")
    return redirect(url_for("admin_companies.invite", company_id=company.public_id))


def _invitation_change(user: User, company: Company, invitation_id: int,
                       change: Callable[[Invitation, User], None], done: str) -> ResponseReturnValue:
    _require_invitations()
    invitation = _invitation_of(company, invitation_id)
    return _confirmed(lambda: change(invitation, user), done,
                      url_for("admin_companies.invite", company_id=company.public_id))


@bp.post("/companies/<company_id>/invitations/<int:invitation_id>/resend")
@company_admin
def resend_invitation(user: User, company: Company, invitation_id: int) -> ResponseReturnValue:
    return _invitation_change(user, company, invitation_id, invitations.resend, _("The invitation was sent again."))


@bp.post("/companies/<company_id>/invitations/<int:invitation_id>/revoke")
@company_admin
def revoke_invitation(user: User, company: Company, invitation_id: int) -> ResponseReturnValue:
    return _invitation_change(user, company, invitation_id, invitations.revoke, _("The invitation was withdrawn."))


# A member's page: their restrictions (addresses, branch) and their API keys.


class RestrictionsForm(Form):
    allowed_ips = TextAreaField(_l("Allowed addresses"), validators=[Optional(), Length(max=ALLOWED_IPS_MAX)])
    branch = StringField(_l("Branch"), validators=[Optional(), Length(max=companies.BRANCH_MAX)])


class ApiKeyForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=api_keys.NAME_MAX)])
    scope = SelectMultipleField(_l("Scope"), validators=[DataRequired()], validate_choice=False)
    ttl_days = StringField(_l("Valid for (days)"), validators=[Optional(), Length(max=5)])


def _member_page(company: Company, membership: Membership) -> str:
    return url_for("admin_companies.member", company_id=company.public_id, user_id=membership.user.public_id)


def _render_member(company: Company, membership: Membership, *, restrictions_form: RestrictionsForm | None = None,
                   key_form: ApiKeyForm | None = None, error: str | None = None, new_key: str | None = None,
                   status: int = 200) -> ResponseReturnValue:
    restrictions_form = restrictions_form or RestrictionsForm(
        formdata=None, allowed_ips="\n".join(membership.allowed_networks), branch=membership.branch or "")
    config = current_app.config["IDP"].api_keys
    key_form = key_form or ApiKeyForm(formdata=None, scope=list(config.scopes[:1]),
                                      ttl_days=str(config.default_ttl_days))
    response = make_response(render_template(
        "admin/member.html", company=company, membership=membership, restrictions_form=restrictions_form,
        key_form=key_form, keys=api_keys.keys_of(membership.user, company), scopes=config.scopes,
        max_ttl_days=config.max_ttl_days, error=error, new_key=new_key, now=utcnow(),
        role_choices=_role_choices()), status)
    if new_key is not None:
        # The key is in this page only: no cache may keep it.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/companies/<company_id>/members/<user_id>")
@company_admin
def member(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    return _render_member(company, _member_of(company, user_id))


@bp.post("/companies/<company_id>/members/<user_id>/restrictions")
@company_admin
def set_restrictions(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    form = RestrictionsForm()
    if not form.validate_on_submit():
        return _render_member(company, membership, restrictions_form=form,
                              error=_problem(form, _("The form was not filled in correctly.")), status=400)
    try:
        restrictions.set_restrictions(membership, user, form.allowed_ips.data, form.branch.data)
    except companies.CompanyError as exc:
        db.session.rollback()
        return _render_member(company, membership, restrictions_form=form, error=str(exc), status=400)
    flash(_("The allowed addresses and the branch were saved."), "success")
    return redirect(_member_page(company, membership))


@bp.route("/companies/<company_id>/members/<user_id>/api-keys", methods=["GET", "POST"])
@company_admin
def member_api_keys(user: User, company: Company, user_id: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    if request.method != "POST":
        return redirect(_member_page(company, membership) + "#api-keys")
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _render_member(company, membership, key_form=form,
                              error=_problem(form, _("Give the key a name and choose at least one scope.")),
                              status=400)
    try:
        _key, raw = api_keys.issue(membership.user, company, user, form.name.data, form.scope.data, form.ttl_days.data)
    except api_keys.ApiKeyError as exc:
        db.session.rollback()
        return _render_member(company, membership, key_form=form, error=str(exc), status=400)
    return _render_member(company, membership, new_key=raw)


def _key_of(company: Company, membership: Membership, key_id: str) -> ApiKey:
    found = api_keys.find_key(membership.user, key_id, company)
    if found is None:
        raise not_found()
    return found


@bp.route("/companies/<company_id>/members/<user_id>/api-keys/<key_id>/revoke", methods=["GET", "POST"])
@company_admin
def revoke_api_key(user: User, company: Company, user_id: str, key_id: str) -> ResponseReturnValue:
    membership = _member_of(company, user_id)
    key = _key_of(company, membership, key_id)
    back = _member_page(company, membership) + "#api-keys"
    if request.method == "POST":
        form = ConfirmedForm()
        if form.validate_on_submit():
            try:
                api_keys.revoke(key, user)
            except api_keys.ApiKeyError as exc:
                db.session.rollback()
                flash(str(exc), "error")
            else:
                flash(_("The key %(name)s was revoked.", name=key.name), "success")
            return redirect(back)
        if form.csrf_token.errors:
            return _invalid(back)
    person = _person(membership)
    return render_template(
        "admin/confirm.html", action=request.path, cancel=back,
        title=_("Revoke the key %(name)s?", name=key.name),
        explanation=_("The program using the key %(name)s (%(prefix)s…) of %(person)s can no longer obtain access "
                      "tokens with it, from now on. This cannot be undone: issue a new key if it is needed again.",
                      name=key.name, prefix=key.prefix, person=person),
        button=_("Revoke the key %(name)s", name=key.name))
