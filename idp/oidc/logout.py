"""Signing out: the user's own sign-out (RP-initiated logout builds on it)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from idp import auth
from idp.extensions import db
from idp.forms import ConfirmForm

bp = Blueprint("logout", __name__)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET asks for confirmation (a link or a prefetch must not sign anyone out); POST signs out."""
    form = ConfirmForm()
    if form.validate_on_submit():
        auth.sign_out()
        db.session.commit()
        return render_template("logout/done.html")
    if auth.current_user() is None:
        return redirect(url_for("login.login"))
    return render_template("logout/confirm.html", form=form)
