"""The language of each response: ui_locales, then the user's choice, then the browser, then the default."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from idp.config import IdpConfig

bp = Blueprint("i18n", __name__)


def _config() -> IdpConfig:
    return current_app.config["IDP"]


def pick_language(ui_locales: str | None, chosen: str | None, user_locale: str | None,
                  accept: list[tuple[str, float]], languages: list[str], default: str) -> str:
    """Pure choice of a language among `languages` (OpenID Connect Core 3.1.2.1 ui_locales first)."""
    for tag in (ui_locales or "").split():
        base = tag.split("-")[0].lower()
        if base in languages:
            return base
    for candidate in (chosen, user_locale):
        if candidate in languages:
            return candidate
    for tag, _quality in accept:
        base = tag.split("-")[0].lower()
        if base in languages:
            return base
    return default


def select_locale() -> str:
    config = _config()
    # Only the query string: reading a form here would parse (and may refuse) the whole body.
    ui_locales = request.args.get("ui_locales")
    chosen = session.get("lang")
    user_locale = None
    if not ui_locales and not chosen and session.get("uid"):
        from idp.accounts.auth import current_user  # imported late: auth needs the models

        user = current_user()
        user_locale = user.locale if user is not None else None
    return pick_language(ui_locales, chosen, user_locale, list(request.accept_languages),
                         list(config.languages), config.locale_default)


def current_language() -> str:
    return str(get_locale() or _config().locale_default)


@bp.post("/language")
def switch_language() -> ResponseReturnValue:
    """The language switch on every page: remembered in the session (and on the account)."""
    language = request.form.get("language", "")
    if language in _config().languages:
        session["lang"] = language
        if session.get("uid"):
            from idp.accounts.auth import current_user
            from idp.extensions import db

            user = current_user()
            if user is not None:
                user.locale = language
                db.session.commit()
    target = request.form.get("next", "/")
    return redirect(safe_next(target))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths are followed, never another host (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
