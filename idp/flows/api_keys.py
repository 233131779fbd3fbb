"""A person's own REST API keys (/account/api-keys), where `api_keys.self_service` is on.

The keys are those of idp.security.api_keys, for one of the person's active companies (the
session's active company by default, as /tools shows it). Company admins issue and revoke keys
for their members on the member's admin page; both see the same keys.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound
from wtforms import HiddenField, SelectMultipleField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from idp.accounts import auth
from idp.companies import active_memberships, find_membership
from idp.extensions import db
from idp.models import Membership, User
from idp.models.base import utcnow
from idp.pipeline import Flow
from idp.security import api_keys
from idp.web.forms import Form

bp = Blueprint("api_keys", __name__)
PAGE = "api_keys.index"


class OwnKeyForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=api_keys.NAME_MAX)])
    scope = SelectMultipleField(_l("Scope"), validators=[DataRequired()], validate_choice=False)
    ttl_days = StringField(_l("Valid for (days)"), validators=[Optional(), Length(max=5)])
    company = StringField(_l("Company"), validators=[Optional(), Length(max=64)])


class ConfirmRevokeForm(Form):
    confirm = HiddenField(validators=[DataRequired(), AnyOf(["yes"])])


def _require_self_service() -> None:
    # Off: the page does not exist (a 404), as the admin pages answer what is not one's own.
    if not current_app.config["IDP"].api_keys.self_service:
        raise NotFound()


def _render(user: User, memberships: list[Membership], form: OwnKeyForm | None = None, error: str | None = None,
            new_key: str | None = None, status: int = 200) -> ResponseReturnValue:
    config = current_app.config["IDP"].api_keys
    current = find_membership(memberships, session.get(auth.SESSION_COMPANY))
    form = form or OwnKeyForm(formdata=None, scope=list(config.scopes[:1]), ttl_days=str(config.default_ttl_days),
                              company=current.company.public_id if current else "")
    response = make_response(render_template(
        "api_keys/index.html", memberships=memberships, form=form, keys=api_keys.keys_of(user),
        scopes=config.scopes, max_ttl_days=config.max_ttl_days, error=error, new_key=new_key, now=utcnow()), status)
    if new_key is not None:
        response.headers["Cache-Control"] = "no-store"  # the key is in this page only
    return response


@bp.route("/account/api-keys", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    _require_self_service()
    user = auth.current_user()
    if user is None:
        return auth.sign_in_redirect(PAGE)
    memberships = active_memberships(user)
    if request.method != "POST":
        return _render(user, memberships)
    form = OwnKeyForm()
    if not form.validate_on_submit():
        return _render(user, memberships, form, _("Give the key a name and choose at least one scope."), status=400)
    chosen = (find_membership(memberships, form.company.data) if form.company.data
              else memberships[0] if len(memberships) == 1 else None)
    if chosen is None:
        return _render(user, memberships, form, _("Choose one of your companies."), status=400)
    try:
        _key, raw = api_keys.issue(user, chosen.company, user, form.name.data, form.scope.data, form.ttl_days.data)
    except api_keys.ApiKeyError as exc:
        db.session.rollback()
        return _render(user, memberships, form, str(exc), status=400)
    return _render(user, memberships, new_key=raw)


@bp.route("/account/api-keys/<key_id>/revoke", methods=["GET", "POST"])
def revoke(key_id: str) -> ResponseReturnValue:
    _require_self_service()
    user = auth.current_user()
    if user is None:
        return auth.sign_in_redirect(PAGE)
    key = api_keys.find_key(user, key_id)
    if key is None:
        raise NotFound()
    back = url_for(PAGE)
    if request.method == "POST":
        form = ConfirmRevokeForm()
        if form.validate_on_submit():
            try:
                api_keys.revoke(key, user)
            except api_keys.ApiKeyError as exc:
                db.session.rollback()
                flash(str(exc), "error")
            else:
                flash(_("The key %(name)s was revoked.", name=key.name), "success")
            return redirect(back)
    return render_template("api_keys/revoke.html", key=key, cancel=back)


flow = Flow(name="api_keys", blueprint=bp, requires=("login",))
