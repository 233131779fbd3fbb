"""Email confirmation: /confirm/<token> confirms the address (on a POST), /confirm/resend sends a new link."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from idp import audit, pipeline
from idp.accounts import auth, links
from idp.accounts.timing import SteadyClock, rehearse_email
from idp.extensions import db
from idp.flows import throttling, typed_value_key
from idp.mail import queue_email
from idp.models import User
from idp.models.users import UserStatus, normalize_email
from idp.pipeline import Flow
from idp.security.throttling import FailureLimit, over_limit, per_ip
from idp.web.forms import ConfirmForm, Form
from idp.web.i18n import current_language

bp = Blueprint("confirm_email", __name__)

CONFIRM_HOURS = 24
CONFIRM_TTL = timedelta(hours=CONFIRM_HOURS)
PURPOSE = "confirm_email"
# Session key: the browser that registered an account is signed in when it confirms it there
# (it typed the password a moment ago). Any other browser is sent to the sign-in page.
REGISTERED_KEY = "registered"
# Session key: the address this browser just registered, so that "send the email again" opens
# with it filled in. Kept server-side (the session lives in the store), never in a URL.
REGISTERED_EMAIL_KEY = "registered_email"


class ResendForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    interaction = HiddenField()


def send_confirmation_email(user: User, interaction: str | None, **pending: str) -> None:
    """Email a link that confirms the address; `pending` holds changes applied only on confirmation."""
    raw = links.issue(PURPOSE, user.id, CONFIRM_TTL, interaction=interaction, **pending)
    issuer = current_app.config["IDP"].issuer
    queue_email("confirm_email", user.email, user.locale or current_language(), user=user, hours=CONFIRM_HOURS,
                link=issuer + url_for("confirm_email.confirm", token=raw))


def _address_key() -> str:
    return typed_value_key("resend", "email")


def _invalid_link() -> ResponseReturnValue:
    return render_template("confirm_email/invalid.html", form=ResendForm()), 410


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    """GET shows a button (mail scanners follow links); the POST confirms."""
    found = links.peek_with_user(token, PURPOSE)
    if found is None or found[1].status == UserStatus.DISABLED:
        return _invalid_link()
    link, user = found
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("confirm_email/confirm.html", form=form, user=user, token=token)
    if links.redeem(token, PURPOSE) is None:  # the single-use gate
        return _invalid_link()
    pending = link.data or {}
    if pending.get("password_hash"):
        # A repeated sign-up of a still unconfirmed address: the mailbox owner chose this one.
        user.password_hash = pending["password_hash"]
        user.given_name = pending.get("given_name", user.given_name)
        user.family_name = pending.get("family_name", user.family_name)
    user.email_verified = True
    if user.status == UserStatus.PENDING:
        user.status = UserStatus.ACTIVE
    links.revoke_all(PURPOSE, user.id)
    audit.record("user.email_confirmed", user=user)
    uid = pending.get("interaction")
    if session.get(REGISTERED_KEY) == user.id and not pending.get("password_hash"):
        auth.sign_in(user, ["pwd"])
        db.session.commit()
        if uid:
            return redirect(auth.resume_after_sign_in(uid))
        # Flashed after sign_in, which starts a new session: shown once, on the next page.
        flash(_("Your email address %(email)s is confirmed.", email=user.email), "success")
        return redirect(url_for("home.index"))
    db.session.commit()
    return render_template("confirm_email/confirmed.html", user=user,
                           interaction=pipeline.live_uid(uid))


@bp.route("/confirm/resend", methods=["GET", "POST"])
def resend() -> ResponseReturnValue:
    form = ResendForm()
    if request.method != "POST":  # GET, or HEAD: the same page
        form.interaction.data = (request.args.get("interaction") or "")[:64]
        form.email.data = session.get(REGISTERED_EMAIL_KEY) or ""
        return render_template("confirm_email/resend.html", form=form)
    if not form.validate_on_submit():
        return render_template("confirm_email/resend.html", form=form), 400  # the field's message is beside it
    clock = SteadyClock()
    address = normalize_email(form.email.data)
    uid = pipeline.live_uid(form.interaction.data)
    refused = over_limit(per_ip("resend-ip", throttling().confirm_resend_per_ip),
                         FailureLimit("resend-account", throttling().confirm_resend_per_account, _address_key()))
    user = User.find_by_email(address)
    if refused is None and user is not None and user.status == UserStatus.PENDING:
        send_confirmation_email(user, uid)
        audit.record("user.confirmation_resent", user=user)
    else:
        # Nothing to send (or throttled: the answer is the one every address gets, idp.security.throttling):
        # do the same work, so that the answer's timing says nothing either.
        stand_in = User(email=address, given_name="", family_name="")
        rehearse_email("confirm_email", current_language(), user=stand_in, hours=CONFIRM_HOURS,
                       link=current_app.config["IDP"].issuer + url_for("confirm_email.confirm", token="x" * 43))
        if refused is not None:
            audit.record("user.confirmation_throttled", scope=refused.scope)
        else:
            audit.record("user.confirmation_resend_ignored")
    db.session.commit()
    clock.wait()
    return render_template("confirm_email/resent.html", email=address, interaction=uid, hours=CONFIRM_HOURS)


flow = Flow(name="confirm_email", blueprint=bp, requires=("login",))
