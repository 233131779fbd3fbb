"""Self sign-up at /register: a pending account and a confirmation email (the confirm_email flow)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp import accounts, audit, pipeline
from idp.accounts.password_rules import personal_words, policy_summary
from idp.accounts.timing import SteadyClock, rehearse_email
from idp.extensions import db
from idp.flows.confirm_email import CONFIRM_HOURS, REGISTERED_EMAIL_KEY, REGISTERED_KEY, send_confirmation_email
from idp.mail import queue_email
from idp.models import User
from idp.models.users import UserStatus, email_key
from idp.pipeline import Flow
from idp.security.throttling import over_limit, per_ip
from idp.web.forms import Form, check_new_password
from idp.web.i18n import current_language

bp = Blueprint("register", __name__)

class RegisterForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    email_confirm = StringField(_l("Confirm your email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    password_confirm = PasswordField(_l("Confirm the password"), validators=[DataRequired(), Length(max=1024)])
    given_name = StringField(_l("Given name"), validators=[DataRequired(), Length(max=100)])
    family_name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)])
    interaction = HiddenField()


def _render(form: RegisterForm, errors: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("register/register.html", form=form, errors=errors or [], summary=summary), status


def _same_address(address: str, typed: str) -> bool:
    """Whether `typed` names the same account as `address`: the same address typed twice may
    differ in form (an internationalised domain as xn--, Unicode composed or not, case)."""
    try:
        return email_key(accounts.check_email(typed)) == email_key(address)
    except accounts.AccountError:
        return False


def _checked_address(form: RegisterForm) -> str | None:
    """The normalised address once the whole posted form is right; otherwise None, with every
    problem at once beside its field (the names' and lengths' from validation, then these)."""
    valid = form.validate_on_submit()
    address = None
    if not form.email.errors:
        try:
            address = accounts.check_email(form.email.data or "")
        except accounts.AccountError:
            form.add_error(form.email, _("This email address is not valid."))
    typed_again = form.email_confirm.data or ""
    if address is not None and not form.email_confirm.errors and not _same_address(address, typed_again):
        form.add_error(form.email_confirm, _("The two email addresses are not the same."))
    if not form.password.errors and not form.password_confirm.errors:
        check_new_password(form, personal_words(address or "", form.given_name.data, form.family_name.data))
    return address if valid and not form.has_errors else None


def send_account_exists_email(user: User) -> None:
    """Tell the owner of an address that someone tried to register it again."""
    issuer = current_app.config["IDP"].issuer
    forgot = issuer + url_for("forgot_password.forgot") if "forgot_password" in current_app.extensions[
        "idp.flows"] else None
    queue_email("account_exists", user.email, user.locale or current_language(), user=user,
                login_link=issuer + url_for("login.login"), forgot_link=forgot)


def _register(address: str, form: RegisterForm, uid: str | None, throttled: bool = False) -> None:
    """Create the pending account, or write to the existing one: the visitor sees the same either way.

    Throttled, nothing is created or sent, after the same session writes and the same hash, so that
    the answer is the one every sign-up gets (idp.security.throttling).
    """
    # Written on every path, so that every answer carries the same session cookie.
    session[REGISTERED_KEY] = None
    session[REGISTERED_EMAIL_KEY] = address
    hasher = current_app.extensions["idp.hasher"]
    # Hashed on every path: the hash is most of the work, so all take as long.
    password_hash = hasher.hash(form.password.data)
    if throttled:
        audit.record("user.registration_throttled")
        return
    names = {"given_name": form.given_name.data.strip(), "family_name": form.family_name.data.strip()}
    existing = User.find_by_email(address)
    if existing is None:
        user = User(email=address, email_verified=False, status=UserStatus.PENDING, password_hash=password_hash,
                    locale=current_language(), **names)
        try:
            # Added inside the savepoint, so that a lost race leaves nothing pending behind.
            with db.session.begin_nested():
                db.session.add(user)
                db.session.flush()
        except IntegrityError:  # registered at the same moment by another request
            existing = User.find_by_email(address)
        else:
            send_confirmation_email(user, uid)
            audit.record("user.registered", user=user)
            session[REGISTERED_KEY] = user.id
            return
    if existing is None:
        return
    if existing.status == UserStatus.PENDING:
        # Still unconfirmed: whoever controls the mailbox decides. The password and names typed now
        # take effect only if this confirmation link is the one used.
        send_confirmation_email(existing, uid, password_hash=password_hash, **names)
        audit.record("user.registration_repeated", user=existing)
    elif existing.status == UserStatus.ACTIVE:
        send_account_exists_email(existing)
        audit.record("user.registration_for_existing_account", user=existing)
    else:
        # A disabled account is told nothing; the same work keeps the answer's timing alike.
        issuer = current_app.config["IDP"].issuer
        rehearse_email("account_exists", existing.locale or current_language(), user=existing,
                       login_link=issuer + url_for("login.login"), forgot_link=None)
        audit.record("user.registration_for_existing_account", user=existing, disabled=True)


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    form = RegisterForm()
    if request.method != "POST":  # GET, or HEAD: the same page
        form.interaction.data = (request.args.get("interaction") or "")[:64]
        return _render(form)
    address = _checked_address(form)
    if address is None:
        return _render(form, status=400)
    clock = SteadyClock()
    uid = pipeline.live_uid(form.interaction.data)
    throttled = over_limit(per_ip("register-ip", current_app.config["IDP"].throttling.register_per_ip)) is not None
    _register(address, form, uid, throttled)
    db.session.commit()
    clock.wait()
    return render_template("register/sent.html", email=address, interaction=uid, hours=CONFIRM_HOURS)


flow = Flow(name="register", blueprint=bp, requires=("confirm_email",))
