"""Password sign-in: the `login` step of the pipeline, and the /login page."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit, pipeline
from idp.accounts import auth, send_password_setup
from idp.accounts.timing import SteadyClock
from idp.extensions import db
from idp.models import User
from idp.models.users import UserStatus
from idp.pipeline import Flow, Interaction, Step
from idp.security.throttling import SignInThrottle
from idp.store import get_store
from idp.web.forms import LoginForm
from idp.web.redirects import safe_next

bp = Blueprint("login", __name__)


def login_needed(interaction: Interaction) -> str | None:
    """Sign-in is needed without a session, under prompt=login, or when max_age has passed."""
    facts = interaction.session
    if facts.user_id is None:
        return "no_session"
    proven = interaction.done.get("login")
    # A sign-in made during this very interaction satisfies prompt=login and any max_age.
    if proven is not None and proven.get("sid") == facts.sid:
        return None
    if "login" in interaction.prompts:
        return "prompt_login"
    max_age = interaction.params.get("max_age")
    if (max_age is not None and max_age.isdigit() and facts.auth_time is not None
            and interaction.now - facts.auth_time > int(max_age)):
        return "max_age"
    return None


def _render(form: LoginForm, error: str | None = None, status: int = 200,
            interaction: Interaction | None = None, setup_hint: bool = False) -> ResponseReturnValue:
    return render_template("login/login.html", form=form, error=error, interaction=interaction,
                           setup_hint=setup_hint), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    uid = request.values.get("interaction")
    interaction = pipeline.load(uid) if uid else None
    if request.method != "POST":  # GET, or HEAD: the same page
        if interaction is not None:
            form.interaction.data = interaction.uid
            form.login.data = interaction.params.get("login_hint", "")[:254]
        form.next.data = safe_next(request.args.get("next")) or ""
        return _render(form, interaction=interaction)

    if not form.validate_on_submit():  # each field's message is beside it
        return _render(form, None, 400, interaction)

    hasher = current_app.extensions["idp.hasher"]
    user = User.find_by_login(form.login.data)
    throttle = SignInThrottle.for_attempt(user, form.login.data, request.remote_addr)
    locked = throttle.locked()
    if locked is not None:
        # Throttled: the password is not checked, yet a hash is paid for and the answer is that of
        # a wrong password (OWASP's Authentication Cheat Sheet): neither tells that throttling began.
        hasher.verify(None, form.password.data)
        return _wrong_credentials(form, user, interaction, throttle, locked)
    # An unknown login still pays for one hash, so timing does not tell that it is unknown.
    if not hasher.verify(user.password_hash if user is not None else None, form.password.data):
        return _wrong_credentials(form, user, interaction, throttle)

    # Only someone who knows the password learns the account's state.
    if user.status == UserStatus.DISABLED:
        audit.record("user.sign_in_refused", user=user, reason="disabled")
        db.session.commit()
        return render_template("login/disabled.html"), 403
    if user.status == UserStatus.PENDING:
        audit.record("user.sign_in_refused", user=user, reason="email_unconfirmed")
        db.session.commit()
        return render_template("login/unconfirmed.html", user=user, interaction=interaction), 403

    if hasher.needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(form.password.data)
    auth.sign_in(user, ["pwd"])
    db.session.commit()
    if interaction is not None:
        return redirect(auth.resume_after_sign_in(interaction.uid))
    if user.must_change_password and "set_password" in current_app.extensions["idp.flows"]:
        # Outside a portal's sign-in no pipeline runs: send the person to the step's page directly.
        return redirect(url_for("set_password.set_password", next=safe_next(form.next.data)))
    return redirect(safe_next(form.next.data) or "/")


# Started after the hash, which every failure pays alike: the floor only has to cover an
# audit row, a link, one email rendered and a commit, well under a tenth of a second.
FAILURE_FLOOR_SECONDS = 0.1


def _wrong_credentials(form: LoginForm, user: User | None, interaction: Interaction | None,
                       throttle: SignInThrottle, locked: str | None = None) -> ResponseReturnValue:
    """The one answer to a wrong login or password, whatever the account, throttled or not.

    A failure counts against the throttles; a throttled attempt is not counted again. An account
    without a password gets its setup link emailed here, the owner of a throttled account the
    lockout email (once per window): that work is padded to the same floor on every failure, so
    the answer's timing does not tell that the account exists.
    """
    clock = SteadyClock(FAILURE_FLOOR_SECONDS)
    if locked is not None:
        audit.record("user.locked_out", user=user, scope=locked)
    else:
        audit.record("user.sign_in_failed", user=user, reason="bad_credentials")
        throttle.count_failure()
        if user is not None and not user.has_password and user.status != UserStatus.DISABLED:
            _email_password_setup(user, interaction)
    throttle.warn_owner()
    db.session.commit()
    clock.wait()
    # The hint about the setup email goes to every failure alike, as the forgot-password page
    # answers alike: it tells nothing about which account exists or has no password.
    return _render(form, _("Wrong email, username or password."), 401, interaction,
                   setup_hint="forgot_password" in current_app.extensions["idp.flows"])


SETUP_MAIL_KEY = "setup_mail:"  # TTL: SETUP_MAIL_INTERVAL; one setup email per account per interval
SETUP_MAIL_INTERVAL = 600


def _email_password_setup(user: User, interaction: Interaction | None) -> None:
    """An account without a password yet: email the setup link (the page's hint, shown on every
    failed sign-in, says to look for it)."""
    if "forgot_password" not in current_app.extensions["idp.flows"]:
        return
    if not get_store().add(f"{SETUP_MAIL_KEY}{user.id}", "1", SETUP_MAIL_INTERVAL):
        return
    send_password_setup(user, interaction.uid if interaction is not None else None)


flow = Flow(
    name="login",
    blueprint=bp,
    steps=(Step("login", 10, "login.login", login_needed, error="login_required"),),
)
