"""The language of each page, and the language switch.

One precedence, first match wins (`pick_language`):

1. `ui_locales` of the request (OpenID Connect Core 3.1.2.1: the portal's wish, carried to the
   sign-in pages of its request);
2. the explicit choice made in this browser with the language switch (kept in the session,
   across sign-in and sign-out);
3. the signed-in account's locale;
4. the browser's Accept-Language;
5. the configured default.

The switch's choice is offered to the account: stored as its locale when made while signed in,
at sign-in (idp.accounts.auth.sign_in) and at sign-up. So a browser that chose nothing shows
before sign-in what its Accept-Language asks, and afterwards the account's language if it has
one. Emails go in the recipient's language (idp.mail.queue_email): the account's locale, else the
language the sender passes (for an invitation to a new address, the inviter's page language).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, current_app, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from idp.config import IdpConfig
from idp.web.redirects import safe_next

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
    return redirect(_without_ui_locales(safe_next(request.form.get("next")) or "/"))


def _without_ui_locales(target: str) -> str:
    """The page to return to, without a `ui_locales` that would outrank the choice just made."""
    parts = urlsplit(target)
    kept = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "ui_locales"]
    if len(kept) == len(parse_qsl(parts.query, keep_blank_values=True)):
        return target
    return parts.path + ("?" + urlencode(kept) if kept else "")
