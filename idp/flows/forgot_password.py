"""Forgotten password: /password/forgot emails a single-use link; /password/reset/<token> sets a new password.

The same reset page serves the first password of accounts made by an operator or an admin
(accounts.send_password_setup issues the same kind of link, valid longer).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from idp import accounts, audit, pipeline
from idp.accounts import auth, links
from idp.accounts.password_rules import policy_summary
from idp.accounts.timing import SteadyClock, rehearse_email
from idp.extensions import db
from idp.flows import throttling, typed_value_key
from idp.mail import queue_email
from idp.models import User
from idp.models.users import UserStatus, normalize_email
from idp.pipeline import Flow
from idp.security.throttling import FailureLimit, over_limit, per_ip
from idp.web.forms import Form, NewPasswordForm
from idp.web.i18n import current_language

bp = Blueprint("forgot_password", __name__)

PASSWORD_RESET_HOURS = 1
PASSWORD_RESET_TTL = timedelta(hours=PASSWORD_RESET_HOURS)
PURPOSE = "password_reset"


class ForgotForm(Form):
    # Named `email` by the routes contract; it takes a username too, as the sign-in page does.
    email = StringField(_l("Email or username"), validators=[DataRequired(), Length(max=254)])
    interaction = HiddenField()


def _address_key() -> str:
    return typed_value_key("forgot", "email")


def send_password_reset_email(login: str, interaction: str | None) -> None:
    """Email a reset link when the email or username names a usable account; otherwise do the
    same work, silently."""
    user = User.find_by_login(login)
    locale = (user.locale if user is not None else None) or current_language()
    if user is None or user.status == UserStatus.DISABLED:
        _rehearse_reset_email(login, locale)
        audit.record("user.password_reset_requested", known=False)
        return
    raw = links.issue(PURPOSE, user.id, PASSWORD_RESET_TTL, interaction=interaction)
    queue_email("password_reset", user.email, locale, user=user, hours=PASSWORD_RESET_HOURS,
                link=current_app.config["IDP"].issuer + url_for("forgot_password.reset", token=raw))
    audit.record("user.password_reset_requested", user=user, known=True)


def _rehearse_reset_email(login: str, locale: str) -> None:
    """The work of a reset email (a link, one email rendered), sending nothing."""
    stand_in = User(email=login, given_name="", family_name="")
    rehearse_email("password_reset", locale, user=stand_in, hours=PASSWORD_RESET_HOURS,
                   link=current_app.config["IDP"].issuer + url_for("forgot_password.reset",
                                                                   token=secrets.token_urlsafe(32)))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if request.method != "POST":  # GET, or HEAD: the same page
        form.interaction.data = (request.args.get("interaction") or "")[:64]
        return render_template("forgot_password/forgot.html", form=form)
    if not form.validate_on_submit():  # the field's message is beside it
        return render_template("forgot_password/forgot.html", form=form), 400
    # Same answer, same work and the same duration whether or not the login names an account.
    clock = SteadyClock()
    login = normalize_email(form.email.data)
    uid = pipeline.live_uid(form.interaction.data)
    refused = over_limit(per_ip("forgot-ip", throttling().forgot_password_per_ip),
                         FailureLimit("forgot-account", throttling().forgot_password_per_account, _address_key()))
    if refused is not None:
        # Throttled: nothing is sent, and the answer is the one every address gets (idp.security.throttling).
        _rehearse_reset_email(login, current_language())
        audit.record("user.password_reset_throttled", scope=refused.scope)
    else:
        send_password_reset_email(login, uid)
    db.session.commit()
    clock.wait()
    return render_template("forgot_password/sent.html", login=login, interaction=uid,
                           hours=PASSWORD_RESET_HOURS)


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
    failed = False
    if request.method == "POST":
        failed = not form.validate_for(user)
        if not failed:
            if links.redeem(token, PURPOSE) is None:  # the single-use gate: a racing click lost
                return _invalid_link()
            first_password = not user.has_password
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
            # Flashed after sign_in, which starts a new session: shown once, on the next page.
            flash(_("Your password is set.") if first_password else _("Your password was changed."), "success")
            return redirect(url_for("home.index"))
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("forgot_password/reset.html", form=form, user=user,
                           summary=summary, token=token), 400 if failed else 200


flow = Flow(name="forgot_password", blueprint=bp, requires=("login",))
