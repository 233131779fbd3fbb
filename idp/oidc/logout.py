"""Signing out: the user's own sign-out and RP-initiated logout (the end_session_endpoint).

OpenID Connect RP-Initiated Logout 1.0: id_token_hint, post_logout_redirect_uri (matched
against the client's registered list by the rule of redirect URIs: exact, and never with a user
name), state, client_id, ui_locales. A valid id_token_hint (an ID token, nothing else) for the
person signed in here signs out at once; otherwise the person confirms, since a link or a
prefetch must not sign anyone out. Ending the session queues back-channel logout tokens.
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp.accounts import auth
from idp.extensions import db
from idp.oidc import backchannel
from idp.oidc.clients import redirect_uri_matches
from idp.oidc.tokens import verify_id_token_hint
from idp.web.errors import error_response
from idp.web.forms import ConfirmForm

bp = Blueprint("logout", __name__)


class LogoutRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _validated(values: Any) -> tuple[str | None, dict[str, Any] | None]:
    """The post-logout redirect (with state) allowed for this request, and the hint's claims."""
    hint = values.get("id_token_hint")
    claims = None
    if hint:
        claims = verify_id_token_hint(hint)
        if claims is None:
            raise LogoutRequestError(_("The sign-out request is not valid (id_token_hint)."))
    client_id = values.get("client_id")
    if claims is not None:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id and client_id not in audiences:
            raise LogoutRequestError(_("The sign-out request is not valid (client_id)."))
        client_id = client_id or audiences[0]
    target = values.get("post_logout_redirect_uri")
    if not target:
        return None, claims
    client = current_app.config["IDP"].client(client_id) if client_id else None
    if client is None or not redirect_uri_matches(client.post_logout_redirect_uris, target,
                                                  any_loopback_port=client.is_public):
        raise LogoutRequestError(_("The sign-out request is not valid (post_logout_redirect_uri)."))
    state = values.get("state")
    return (add_params_to_uri(target, [("state", state)]) if state else target), claims


def end_session() -> None:
    """Sign the person out here and queue back-channel logout to every client that asks for it."""
    user = auth.current_user()
    sid = session.get("sid")
    queued = backchannel.queue_logout(user, sid)
    auth.sign_out()
    db.session.commit()
    if queued:
        backchannel.notify()


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET asks for confirmation unless the client proved who is signed out; POST signs out."""
    values = request.form if request.method == "POST" else request.args
    try:
        target, claims = _validated(values)
    except LogoutRequestError as exc:
        return error_response(400, exc.message, "invalid_request")
    form = ConfirmForm()
    user = auth.current_user()
    if request.method == "POST":
        if not form.validate_on_submit():
            return error_response(400, _("This form has expired or was not sent from this site. "
                                         "Please go back, reload the page and try again."), "invalid_request")
        end_session()
        return redirect(target) if target else render_template("logout/done.html")
    if user is None:
        if target:
            return redirect(target)
        if claims is not None:
            return render_template("logout/done.html")
        return redirect(url_for("login.login"))
    if claims is not None and claims.get("sub") == user.public_id and (
            not claims.get("sid") or claims.get("sid") == session.get("sid")):
        end_session()
        return redirect(target) if target else render_template("logout/done.html")
    keep = {key: values[key] for key in ("post_logout_redirect_uri", "state", "client_id", "id_token_hint",
                                         "ui_locales") if values.get(key)}
    return render_template("logout/confirm.html", form=form, keep=keep)
