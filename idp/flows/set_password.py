"""The `set_password` step: a person whose password someone else chose sets their own before going on."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import HiddenField

from idp import accounts, audit, pipeline
from idp.accounts import auth
from idp.accounts.password_rules import policy_summary
from idp.extensions import db
from idp.pipeline import Flow, Interaction, Step
from idp.web.forms import NewPasswordForm
from idp.web.i18n import safe_next

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
        form.next.data = safe_next(request.args.get("next"))
    errors: list[str] = []
    if request.method == "POST":
        errors = form.problems_for(user)
        if not errors and current_app.extensions["idp.hasher"].verify(user.password_hash, form.password.data):
            errors = [_("Choose a password different from the one you were given.")]
        if not errors:
            accounts.set_own_password(user, form.password.data)
            audit.record("user.first_password_set", user=user)
            db.session.commit()
            interaction = pipeline.load(form.interaction.data)
            if interaction is not None:
                return redirect(_resume(interaction))
            return redirect(safe_next(form.next.data))
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("set_password/set_password.html", form=form, errors=errors, user=user,
                           summary=summary), 400 if errors else 200


def _resume(interaction: Interaction) -> str:
    """Where the portal's sign-in resumes. The step's own check reads the account, not the
    interaction: only a sign-in proven in this interaction needs recording again."""
    if "login" in interaction.done:
        # Setting the password gave the session a new id; the proof must name it.
        return auth.resume_after_sign_in(interaction.uid)
    return interaction.return_to


flow = Flow(
    name="set_password",
    blueprint=bp,
    steps=(Step("set_password", 20, "set_password.set_password", set_password_needed),),
    requires=("login",),
)
