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
from idp.accounts.password_rules import personal_words_of, policy_summary
from idp.accounts.timing import rehearse_email
from idp.extensions import db
from idp.mail import queue_email
from idp.models import User
from idp.pipeline import Flow
from idp.security.throttling import check_current_password
from idp.web.forms import ConfirmForm, Form, check_new_password
from idp.web.home import LANGUAGE_NAMES
from idp.web.i18n import current_language

bp = Blueprint("account", __name__)

EMAIL_CHANGE_TTL = timedelta(hours=24)
EMAIL_CHANGE = "email_change"


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    password_confirm = PasswordField(_l("Confirm the password"), validators=[DataRequired(), Length(max=1024)])


class EmailForm(Form):
    # Ids of their own: the page holds both forms, and each id names one field (the error summary links to it).
    email = StringField(_l("New email address"), validators=[DataRequired(), Length(max=254)], id="new_email")
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)],
                                     id="email_current_password")


class LanguageForm(Form):
    language = SelectField(_l("Language"), choices=[])


def _language_form(user: User) -> LanguageForm:
    form = LanguageForm()
    form.language.choices = [(code, LANGUAGE_NAMES[code]) for code in current_app.config["IDP"].languages]
    if request.method == "GET" or form.language.data is None:
        form.language.data = user.locale or current_language()
    return form


def _page(user: User, *, password_form: PasswordForm | None = None, email_form: EmailForm | None = None,
          status: int = 200) -> ResponseReturnValue:
    """The page; a refused form comes back as it was posted, its errors beside its fields."""
    return render_template(
        "account/index.html", user=user, password_form=password_form or PasswordForm(formdata=None),
        email_form=email_form or EmailForm(formdata=None), language_form=_language_form(user),
        summary=policy_summary(current_app.config["IDP"].password_policy),
        api_keys_self_service=current_app.config["IDP"].api_keys.self_service,
    ), status


def _to_login() -> ResponseReturnValue:
    return auth.sign_in_redirect("account.index")


@bp.get("/account")
def index() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    return _page(user)


@bp.post("/account/password")
def password() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return _to_login()
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(user, password_form=form, status=400)
    # Under the sign-in throttles: a session left open is not a way to guess the password.
    if not check_current_password(user, form.current_password.data, "password_change"):
        db.session.commit()
        form.add_error(form.current_password, _("Your current password is not correct."))
        return _page(user, password_form=form, status=400)
    if not check_new_password(form, personal_words_of(user)):
        return _page(user, password_form=form, status=400)
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
        return _page(user, email_form=form, status=400)
    if not check_current_password(user, form.current_password.data, "email_change"):
        db.session.commit()
        form.add_error(form.current_password, _("Your current password is not correct."))
        return _page(user, email_form=form, status=400)
    try:
        address = accounts.check_email(form.email.data)
    except accounts.AccountError:
        form.add_error(form.email, _("This email address is not valid."))
        return _page(user, email_form=form, status=400)
    if address == user.email:
        form.add_error(form.email, _("This is already your email address."))
        return _page(user, email_form=form, status=400)
    existing = User.find_by_email(address)
    # The person's own account, when only the case of the address changes.
    if existing is None or existing.id == user.id:
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
