"""The account page (/account): change password, change email (confirmed at the new address), language."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from idp import accounts, audit
from idp.accounts import auth, links
from idp.accounts.password_rules import password_errors_for, policy_summary
from idp.accounts.timing import rehearse_email
from idp.extensions import db
from idp.mail import queue_email
from idp.models import User
from idp.pipeline import Flow
from idp.web.forms import ConfirmForm, Form
from idp.web.home import LANGUAGE_NAMES
from idp.web.i18n import current_language

bp = Blueprint("account", __name__)

EMAIL_CHANGE_TTL = timedelta(hours=24)
EMAIL_CHANGE = "email_change"


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    password_confirm = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


class EmailForm(Form):
    email = StringField(_l("New email address"), validators=[DataRequired(), Length(max=254)])
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])


class LanguageForm(Form):
    language = SelectField(_l("Language"), choices=[])


def _language_form(user: User) -> LanguageForm:
    form = LanguageForm()
    form.language.choices = [(code, LANGUAGE_NAMES[code]) for code in current_app.config["IDP"].languages]
    if request.method == "GET" or form.language.data is None:
        form.language.data = user.locale or current_language()
    return form


def _page(user: User, *, password_errors: list[str] | None = None, email_errors: list[str] | None = None,
          status: int = 200) -> ResponseReturnValue:
    return render_template(
        "account/index.html", user=user, password_form=PasswordForm(formdata=None), email_form=EmailForm(formdata=None),
        language_form=_language_form(user), password_errors=password_errors or [], email_errors=email_errors or [],
        summary=policy_summary(current_app.config["IDP"].password_policy),
    ), status


def _to_login() -> ResponseReturnValue:
    return auth.sign_in_redirect("account.index")


@bp.get("/account")
def index() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    return _page(user)


def _password_ok(user: User, password: str) -> bool:
    return current_app.extensions["idp.hasher"].verify(user.password_hash, password)


@bp.post("/account/password")
def password() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(user, password_errors=[_("Fill in your current password and the new one twice.")], status=400)
    if not _password_ok(user, form.current_password.data):
        audit.record("user.password_change_refused", user=user, reason="wrong_current_password")
        db.session.commit()
        return _page(user, password_errors=[_("Your current password is not correct.")], status=400)
    errors = password_errors_for(user, form.password.data, form.password_confirm.data)
    if errors:
        return _page(user, password_errors=errors, status=400)
    accounts.set_own_password(user, form.password.data)
    db.session.commit()
    flash(_("Your password has been changed. Your other sessions have been signed out."), "success")
    return redirect(url_for("account.index"))


@bp.post("/account/email")
def email() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    form = EmailForm()
    if not form.validate_on_submit():
        return _page(user, email_errors=[_("Fill in the new address and your current password.")], status=400)
    if not _password_ok(user, form.current_password.data):
        audit.record("user.email_change_refused", user=user, reason="wrong_current_password")
        db.session.commit()
        return _page(user, email_errors=[_("Your current password is not correct.")], status=400)
    try:
        address = accounts.check_email(form.email.data)
    except accounts.AccountError:
        return _page(user, email_errors=[_("This email address is not valid.")], status=400)
    if address == user.email:
        return _page(user, email_errors=[_("This is already your email address.")], status=400)
    if User.find_by_email(address) is None:
        raw = links.issue(EMAIL_CHANGE, user.id, EMAIL_CHANGE_TTL, email=address)
        queue_email("email_change", address, user.locale or current_language(), user=user, new_email=address,
                    hours=24, link=current_app.config["IDP"].issuer + url_for("account.confirm_email", token=raw))
        audit.record("user.email_change_requested", user=user)
    else:
        # Same answer and the same work as for a free address: the page must not tell which
        # addresses have accounts.
        rehearse_email("email_change", user.locale or current_language(), user=user, new_email=address, hours=24,
                       link=current_app.config["IDP"].issuer + url_for("account.confirm_email", token="x" * 43))
        audit.record("user.email_change_requested", user=user, taken=True)
    db.session.commit()
    flash(_("We have sent a link to %(email)s. Your address changes when you open it.", email=address), "success")
    return redirect(url_for("account.index"))


def _invalid_link() -> ResponseReturnValue:
    return render_template("link_invalid.html", again_url=url_for("home.index"), again_label=_("Continue")), 410


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> ResponseReturnValue:
    """GET shows a button (mail scanners follow links); the POST changes the address."""
    found = links.peek_with_user(token, EMAIL_CHANGE)
    if found is None or not found[1].is_active:
        return _invalid_link()
    link, user = found
    new_address = link.data["email"]
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("account/confirm_email.html", form=form, token=token, new_email=new_address)
    if links.redeem(token, EMAIL_CHANGE) is None:
        return _invalid_link()
    old_address = user.email
    user.email = new_address
    user.email_verified = True
    links.revoke_all(EMAIL_CHANGE, user.id)
    try:
        db.session.flush()
    except IntegrityError:  # the address got an account meanwhile
        db.session.rollback()
        return _invalid_link()
    audit.record("user.email_changed", user=user)
    queue_email("email_changed", old_address, user.locale or current_language(), user=user, old_email=old_address,
                new_email=new_address)
    db.session.commit()
    return render_template("account/email_changed.html", new_email=new_address)


@bp.post("/account/language")
def language() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    form = _language_form(user)
    if form.validate_on_submit():
        user.locale = form.language.data
        session["lang"] = form.language.data
        audit.record("user.language_changed", user=user, language=form.language.data)
        db.session.commit()
    return redirect(url_for("account.index"))


flow = Flow(name="account", blueprint=bp, requires=("login",))
