"""The `set_password` step: a person whose password someone else chose sets their own before going on."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import HiddenField

from idp import accounts, audit, pipeline
from idp.accounts import auth
from idp.accounts.password_rules import policy_summary
from idp.extensions import db
from idp.pipeline import Flow, Interaction, Step
from idp.web.forms import NewPasswordForm
from idp.web.redirects import safe_next, this_page

bp = Blueprint("set_password", __name__)


def set_password_needed(interaction: Interaction) -> str | None:
    """Needed while the signed-in user still has a password chosen by someone else."""
    user = interaction.user
    if user is not None and getattr(user, "must_change_password", False):
        return "must_change_password"
    return None


class SetPasswordForm(NewPasswordForm):
    interaction = HiddenField()
    next = HiddenField()


@bp.route("/password/set", methods=["GET", "POST"])
def set_password() -> ResponseReturnValue:
    user = auth.current_user()
    form = SetPasswordForm()
    uid = request.values.get("interaction") or None
    if user is None:
        return redirect(url_for("login.login", interaction=uid))
    if request.method == "GET":
        form.interaction.data = uid or ""
        form.next.data = safe_next(request.args.get("next")) or ""
    failed = False
    if request.method == "POST":
        failed = not form.validate_for(user)
        if not failed and current_app.extensions["idp.hasher"].verify(user.password_hash, form.password.data):
            form.add_error(form.password, _("Choose a password different from the one you were given."))
            failed = True
        if not failed:
            accounts.set_own_password(user, form.password.data)
            audit.record("user.first_password_set", user=user)
            db.session.commit()
            interaction = pipeline.load(form.interaction.data)
            if interaction is not None:
                return redirect(_resume(interaction))
            # Flashed after set_own_password, which starts a new session: shown once, on the next page.
            flash(_("Your password is set."), "success")
            return redirect(safe_next(form.next.data) or "/")
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("set_password/set_password.html", form=form, user=user,
                           summary=summary), 400 if failed else 200


def _resume(interaction: Interaction) -> str:
    """Where the portal's sign-in resumes. The step's own check reads the account, not the
    interaction: only a sign-in proven in this interaction needs recording again."""
    if "login" in interaction.done:
        # Setting the password gave the session a new id; the proof must name it.
        return auth.resume_after_sign_in(interaction.uid)
    return interaction.return_to


# What someone who must change their password still reaches: this step, signing out, the
# protocol (whose pipeline runs this very step inside a portal's sign-in), the language switch,
# health probes and static files. Error pages have no endpoint (a 404, a 405) and pass too.
UNGATED_BLUEPRINTS = frozenset({"set_password", "logout", "oidc", "oidc_api", "i18n", "health"})
UNGATED_ENDPOINTS = frozenset({"static"})


def password_gate() -> ResponseReturnValue | None:
    """before_request: a signed-in person whose password someone else chose reaches no other page
    until they set their own (document 004); they come back here afterwards."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in UNGATED_ENDPOINTS or request.blueprint in UNGATED_BLUEPRINTS:
        return None
    user = auth.current_user()
    if user is None or not user.must_change_password:
        return None
    uid = pipeline.live_uid(request.args.get("interaction"))
    # After a POST the page is gone: a GET of a POST-only address would be refused.
    target = this_page() if request.method in ("GET", "HEAD") and uid is None else None
    return redirect(url_for("set_password.set_password", interaction=uid, next=target))


def _init_app(app: Flask) -> None:
    app.before_request(password_gate)


flow = Flow(
    name="set_password",
    blueprint=bp,
    steps=(Step("set_password", 20, "set_password.set_password", set_password_needed),),
    requires=("login",),
    init_app=_init_app,
)
