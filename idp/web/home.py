"""The provider's own home page, and what every template can read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idp.accounts.auth import current_user
from idp.web.i18n import current_language
from idp.web.redirects import this_page

bp = Blueprint("home", __name__)

# Each language in its own name, so that anyone can find theirs.
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}


@bp.get("/")
def index() -> ResponseReturnValue:
    """Signed in: the list of tools when that flow is on, else who you are. Otherwise sign in."""
    user = current_user()
    if user is None:
        return redirect(url_for("login.login"))
    if "tools" in current_app.extensions["idp.flows"]:
        return redirect(url_for("tools.index"))
    return render_template("home/index.html", user=user)


def template_globals() -> dict[str, Any]:
    config = current_app.config["IDP"]
    return {
        "current_user": current_user(),
        "current_language": current_language(),
        "languages": config.languages,
        "language_names": LANGUAGE_NAMES,
        "current_path": this_page() if request else "/",
        "enabled_flows": current_app.extensions["idp.flows"],
    }
