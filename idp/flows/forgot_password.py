"""Forgotten password: /password/forgot emails a single-use link; /password/reset/<token> sets a new password.

The same reset page serves the first password of accounts made by an operator or an admin
(accounts.send_password_setup issues the same kind of link, valid longer).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from idp import accounts, audit, pipeline
from idp.accounts import auth, links
from idp.accounts.password_rules import policy_summary
from idp.accounts.timing import SteadyClock, rehearse_email
from idp.extensions import db, limiter
from idp.flows import throttling, typed_value_key
from idp.mail import queue_email
from idp.models import User
from idp.models.users import UserStatus, normalize_email
from idp.pipeline import Flow
from idp.web.forms import Form, NewPasswordForm
from idp.web.i18n import current_language

bp = Blueprint("forgot_password", __name__)

PASSWORD_RESET_TTL = timedelta(hours=1)
PURPOSE = "password_reset"


class ForgotForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    interaction = HiddenField()


def _address_key() -> str:
    return typed_value_key("forgot", "email")


def _breached(_limit: RequestLimit) -> Response:
    audit.record("user.password_reset_throttled")
    db.session.commit()
    form = ForgotForm()
    return make_response(render_template("forgot_password/forgot.html", form=form,
                                         error=_("Too many requests. Please wait a while and try again.")), 429)


def send_password_reset_email(address: str, interaction: str | None) -> None:
    """Email a reset link when the address has a usable account; otherwise do the same work, silently."""
    user = User.find_by_email(address)
    locale = (user.locale if user is not None else None) or current_language()
    if user is None or user.status == UserStatus.DISABLED:
        raw = secrets.token_urlsafe(32)
        stand_in = User(email=address, given_name="", family_name="")
        rehearse_email("password_reset", locale, user=stand_in, hours=1,
                       link=current_app.config["IDP"].issuer + url_for("forgot_password.reset", token=raw))
        audit.record("user.password_reset_requested", known=False)
        return
    raw = links.issue(PURPOSE, user.id, PASSWORD_RESET_TTL, interaction=interaction)
    queue_email("password_reset", user.email, locale, user=user, hours=1,
                link=current_app.config["IDP"].issuer + url_for("forgot_password.reset", token=raw))
    audit.record("user.password_reset_requested", user=user, known=True)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: throttling().forgot_password_per_ip, key_func=get_remote_address, methods=["POST"],
               on_breach=_breached, scope="forgot-ip")
@limiter.limit(lambda: throttling().forgot_password_per_account, key_func=_address_key, methods=["POST"],
               on_breach=_breached, scope="forgot-account")
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if request.method == "GET":
        form.interaction.data = (request.args.get("interaction") or "")[:64]
        return render_template("forgot_password/forgot.html", form=form)
    if not form.validate_on_submit():
        return render_template("forgot_password/forgot.html", form=form, error=_("Enter your email address.")), 400
    # Same answer, same work and the same duration whether or not the address has an account.
    clock = SteadyClock()
    address = normalize_email(form.email.data)
    uid = pipeline.live_uid(form.interaction.data)
    send_password_reset_email(address, uid)
    db.session.commit()
    clock.wait()
    return render_template("forgot_password/sent.html", email=address, interaction=uid)


def _invalid_link() -> ResponseReturnValue:
    return render_template("link_invalid.html", again_url=url_for("forgot_password.forgot"),
                           again_label=_("Ask for a new link")), 410


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    """GET only shows the form (a mail scanner opening the link changes nothing); POST sets the password."""
    found = links.peek_with_user(token, PURPOSE)
    if found is None or found[1].status == UserStatus.DISABLED:
        return _invalid_link()
    link, user = found
    form = NewPasswordForm()
    errors: list[str] = []
    if request.method == "POST":
        errors = form.problems_for(user)
        if not errors:
            if links.redeem(token, PURPOSE) is None:  # the single-use gate: a racing click lost
                return _invalid_link()
            accounts.set_password(user, form.password.data)
            links.revoke_all(PURPOSE, user.id)
            if user.status == UserStatus.PENDING:
                # The link reached the address: that confirms it as well as a confirmation link would.
                user.status = UserStatus.ACTIVE
                user.email_verified = True
                audit.record("user.email_confirmed", user=user, via="password_reset")
            audit.record("user.password_reset", user=user)
            auth.sign_in(user, ["pwd"])
            db.session.commit()
            uid = link.data.get("interaction")
            if uid:
                return redirect(auth.resume_after_sign_in(uid))
            return redirect(url_for("home.index"))
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("forgot_password/reset.html", form=form, errors=errors, user=user,
                           summary=summary, token=token), 400 if errors else 200


flow = Flow(name="forgot_password", blueprint=bp, requires=("login",))
