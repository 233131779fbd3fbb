"""The authorization endpoint: validates with Authlib, walks the sign-in pipeline, issues the code.

/authorize never renders a page itself. It validates the request, opens an interaction and
redirects to the first unmet step; each step comes back to /authorize/resume/<uid>, where every
check runs again, and once none is unmet the interaction is taken (single use) and the code
issued. Errors go back to the client only once its redirect URI is known to be registered;
otherwise they are an error page (RFC 6749 section 4.1.2.1).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import pipeline
from idp.accounts import auth
from idp.accounts.links import hash_token
from idp.companies import active_memberships, chosen_company_id
from idp.extensions import csrf
from idp.oidc.tokens import Principal, verify_id_token_hint
from idp.pipeline import Interaction
from idp.web.errors import error_response

bp = Blueprint("oidc", __name__)

BROWSER_KEY = "browser"  # session key: a random value binding interactions to this browser
_BINDING = "_browser"  # the interaction's copy of its hash, beside the request parameters


def _server() -> Any:
    return current_app.extensions["idp.server"]


def _browser_hash() -> str:
    value = session.get(BROWSER_KEY)
    if not value:
        value = secrets.token_urlsafe(24)
        session[BROWSER_KEY] = value
    return hash_token(value)


class StoredRequest(OAuth2Request):
    """The original authorization request, rebuilt from the interaction on resume."""

    def __init__(self, params: dict[str, str]) -> None:
        issuer = current_app.config["IDP"].issuer
        super().__init__("GET", issuer + "/authorize")
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


def _to_client(error: OAuth2Error) -> ResponseReturnValue:
    """An error: back to the client when its redirect URI was validated, else a page."""
    if error.redirect_uri:
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        if error.state:
            params.append(("state", error.state))
        params.append(("iss", current_app.config["IDP"].issuer))
        return redirect(add_params_to_uri(error.redirect_uri, params), 302)
    message = _("The sign-in request from this application is not valid (%(error)s). "
                "Please go back to the application and try again.", error=error.error)
    if error.description:
        message += " " + str(error.description)
    return error_response(400, message, error.error)


def _claims_request(params: dict[str, str], redirect_uri: str, state: str | None) -> dict[str, Any] | None:
    raw = params.get("claims")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError("Invalid 'claims' parameter.", redirect_uri=redirect_uri, state=state)
    return value


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize() -> ResponseReturnValue:
    """OpenID Connect Core 3.1.2: validate, then walk the pipeline."""
    server = _server()
    params = {key: value for key, value in request.values.items() if not key.startswith("_")}
    try:
        grant = server.get_consent_grant(end_user=auth.current_user())
    except OAuth2Error as error:
        return _to_client(error)
    redirect_uri = grant.redirect_uri
    state = params.get("state")
    try:
        # Request objects are not implemented, so they are refused rather than ignored (OIDC Core 6).
        if "request" in params:
            raise RequestNotSupportedError(redirect_uri=redirect_uri, state=state)
        if "request_uri" in params:
            raise RequestURINotSupportedError(redirect_uri=redirect_uri, state=state)
        max_age = params.get("max_age")
        if max_age is not None and not max_age.isdigit():
            raise InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=redirect_uri, state=state)
        if max_age == "0":
            # A sign-in of age 0 is one made now: the same as prompt=login.
            params["prompt"] = " ".join(sorted(set(params.get("prompt", "").split()) | {"login"}))
        _claims_request(params, redirect_uri, state)
        hint = params.pop("id_token_hint", None)
        if hint:
            claims = verify_id_token_hint(hint)
            if claims is None:
                raise InvalidRequestError("Invalid 'id_token_hint'.", redirect_uri=redirect_uri, state=state)
            user = auth.current_user()
            if user is not None and user.public_id != claims["sub"]:
                if "none" in params.get("prompt", "").split():
                    raise OAuth2Error(error="login_required", redirect_uri=redirect_uri, state=state)
                # Someone else is signed in here: the hinted person must sign in (OIDC Core 3.1.2.1).
                params["prompt"] = " ".join(sorted(set(params.get("prompt", "").split()) | {"login"}))
    except OAuth2Error as error:
        return _to_client(error)

    params["redirect_uri"] = redirect_uri
    params["scope"] = grant.request.scope or ""
    params[_BINDING] = _browser_hash()
    interaction = pipeline.start(grant.client.get_client_id(), params,
                                 return_to=lambda uid: url_for("oidc.resume", uid=uid))
    return _continue(interaction)


@bp.route("/authorize/resume/<uid>", methods=["GET"])
def resume(uid: str) -> ResponseReturnValue:
    """Where every step returns: all checks run again, then the code is issued."""
    interaction = pipeline.load(uid)
    if interaction is None:
        return error_response(400, _("This sign-in has expired. Please go back to the application and start again."),
                              "invalid_request")
    expected = interaction.params.get(_BINDING, "")
    value = session.get(BROWSER_KEY)
    actual = hash_token(value) if value else ""
    if not hmac.compare_digest(expected, actual):
        return error_response(400, _("This sign-in was started in another browser. Please go back to the "
                                     "application and start again."), "invalid_request")
    return _continue(interaction)


def _continue(interaction: Interaction) -> ResponseReturnValue:
    params = interaction.params
    redirect_uri = params["redirect_uri"]
    state = params.get("state")
    interaction.session = auth.session_facts()
    interaction.user = auth.current_user()
    interaction.client = current_app.config["IDP"].client(interaction.client_id)
    interaction.now = int(time.time())
    if interaction.client is None:
        pipeline.finish(interaction.uid)
        return error_response(400, None, "invalid_client")

    for step_name, proof in interaction.done.items():
        if isinstance(proof, dict) and proof.get("denied"):
            pipeline.finish(interaction.uid)
            return _to_client(AccessDeniedError(redirect_uri=redirect_uri, state=state,
                                                description=f"The {step_name} step was refused."))

    unmet = pipeline.next_step(current_app.extensions["idp.steps"], interaction)
    if unmet is not None:
        step, reason = unmet
        current_app.logger.debug("interaction %s: step %s needed (%s)", interaction.uid, step.name, reason)
        if "none" in interaction.prompts or not step.interactive:
            pipeline.finish(interaction.uid)
            return _to_client(OAuth2Error(error=step.error, redirect_uri=redirect_uri, state=state))
        target = {"interaction": interaction.uid}
        if params.get("ui_locales"):
            target["ui_locales"] = params["ui_locales"]
        return redirect(url_for(step.endpoint, **target))

    if interaction.user is None:
        # No login step is enabled and nobody is signed in: nothing can be issued.
        pipeline.finish(interaction.uid)
        return _to_client(OAuth2Error(error="login_required", redirect_uri=redirect_uri, state=state))
    if pipeline.finish(interaction.uid) is None:
        return error_response(400, _("This sign-in has already been completed."), "invalid_request")
    return _issue_code(interaction)


def _issue_code(interaction: Interaction) -> ResponseReturnValue:
    params = {k: v for k, v in interaction.params.items() if not k.startswith("_")}
    facts = interaction.session
    company = interaction.done.get("company") or {}
    claims_request = None
    if params.get("claims"):
        try:
            claims_request = json.loads(params["claims"])
        except ValueError:
            claims_request = None
    principal = Principal(user=interaction.user, auth_time=facts.auth_time, amr=list(facts.amr), sid=facts.sid,
                          company_id=company.get("company_id")
                          or chosen_company_id(interaction, active_memberships(interaction.user)),
                          nonce=params.get("nonce"),
                          claims_request=claims_request if isinstance(claims_request, dict) else None)
    server = _server()
    oauth_request = StoredRequest(params)
    oauth_request.user = principal
    try:
        grant = server.get_authorization_grant(oauth_request)
    except OAuth2Error as error:
        return _to_client(error)
    return server.create_authorization_response(request=oauth_request, grant_user=principal, grant=grant)
