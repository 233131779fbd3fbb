"""The authorization endpoint: validates with Authlib, walks the sign-in pipeline, issues the code.

/authorize never renders a page itself. It validates the request, opens an interaction and
redirects to the first unmet step; each step comes back to /authorize/resume/<uid>, where every
check runs again, and once none is unmet the interaction is taken (single use) and the code
issued. Errors go back to the client only once its redirect URI is known to be registered;
otherwise they are an error page (RFC 6749 section 4.1.2.1), in the person's language.

An interaction is kept in the store for its whole TTL, so only the known parameters are kept,
each and all of them bounded in size (`authorize` of the configuration), and the requests that
leave one behind are limited per client IP (`throttling.authorize_per_ip`).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.errors import UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from flask import Blueprint, current_app, g, make_response, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp import pipeline
from idp.accounts import auth
from idp.accounts.links import hash_token
from idp.companies import active_memberships, chosen_company_id, restrictions
from idp.config import AuthorizeConfig
from idp.extensions import csrf, limiter
from idp.oidc.claims import CLAIMS_TARGETS, parse_claims_request, requested_claim_names, scopes_of_claims
from idp.oidc.clients import query_client
from idp.oidc.tokens import Principal, verify_id_token_hint
from idp.pipeline import CONSENT_SCOPES, Interaction
from idp.security.restrictions import address_allowed
from idp.web.errors import error_response

bp = Blueprint("oidc", __name__)

BROWSER_KEY = "browser"  # session key: a random value binding interactions to this browser
_BINDING = "_browser"  # the interaction's copy of its hash, beside the request parameters

# What an authorization request may carry that this provider reads (RFC 6749 4.1.1, OIDC Core
# 3.1.2.1 and 5.5, RFC 7636, and `company`, DESIGN.md); anything else is dropped, never stored.
# `request` and `request_uri` are kept only to be refused.
AUTHORIZATION_PARAMETERS = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode", "display",
    "prompt", "max_age", "ui_locales", "claims_locales", "id_token_hint", "login_hint", "acr_values",
    "claims", "code_challenge", "code_challenge_method", "request", "request_uri", "company",
})
MAX_AGE_DIGITS = 10  # seconds: three centuries; more is refused rather than handed to int()


def _server() -> Any:
    return current_app.extensions["idp.server"]


def _browser_value() -> str:
    """The random value binding interactions to this browser: the session's, else a new one,
    which authorize() puts in the session only when the interaction is kept. A request answered
    at once (prompt=none without a session) leaves no session behind for the store to keep."""
    return session.get(BROWSER_KEY) or secrets.token_urlsafe(24)


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


class TooLargeError(InvalidRequestError):
    """An authorization request over the configured sizes (`authorize` of the configuration)."""


def _page_description(error: OAuth2Error) -> str | None:
    """What a person reads of an error that cannot go back to the client: a sentence of ours,
    translated, by error code. Authlib's descriptions are English, for developers: never shown."""
    if isinstance(error, TooLargeError):
        return _("The request is too large.")
    return {
        "invalid_client": _("This application is not known to this sign-in service."),
        "invalid_request": _("The request is incomplete, repeats a parameter, or asks to return to an address "
                             "that is not registered for this application."),
        "unauthorized_client": _("This application may not sign people in this way."),
        "unsupported_response_type": _("This application asked for a kind of answer that this sign-in service "
                                       "does not give."),
        "invalid_scope": _("This application asked for access that this sign-in service does not give."),
        "access_denied": _("The sign-in was refused."),
        "server_error": _("Something went wrong on our side. Please try again."),
        "temporarily_unavailable": _("The service is temporarily unavailable. Please try again in a moment."),
    }.get(error.error)


# The characters an error_description may hold (RFC 6749 §4.1.2.1): printable ASCII but " and \.
_DESCRIBABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


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
    description = _page_description(error)
    if description:
        message += " " + description
    return error_response(400, message, error.error)


def _claims_request(params: dict[str, str], redirect_uri: str, state: str | None) -> dict[str, Any] | None:
    raw = params.get("claims")
    if not raw:
        return None
    try:
        return parse_claims_request(raw)
    except ValueError:
        raise InvalidRequestError("Invalid 'claims' parameter.", redirect_uri=redirect_uri, state=state) from None


def _size_problem(values: MultiDict, limits: AuthorizeConfig) -> str | None:
    """Why the request is over the configured sizes, None when it is within them.

    Every parameter counts towards the whole, known or not (each one was sent and parsed);
    each known one is also bounded on its own.
    """
    total = 0
    for name, value in values.items(multi=True):
        total += len(name) + len(value)
        if name in AUTHORIZATION_PARAMETERS and len(value) > limits.max_parameter_length:
            return f"Parameter '{name}' is too long."
    if total > limits.max_request_length:
        return "The request is too large."
    return None


def _refuse_too_large(problem: str, params: dict[str, str], limits: AuthorizeConfig) -> ResponseReturnValue:
    """invalid_request, to the client when its redirect URI checks out (RFC 6749 4.1.2.1), else a page.

    Authlib has not read this request (it is not processed further): the redirect URI is checked
    here with the same rule, and nothing oversized is sent back (a long state is left out).
    """
    client = query_client(params.get("client_id"))
    redirect_uri = params.get("redirect_uri")
    if client is None or not redirect_uri or len(redirect_uri) > limits.max_parameter_length or (
            not client.check_redirect_uri(redirect_uri)):
        redirect_uri = None
    state = params.get("state")
    if state is not None and len(state) > limits.max_parameter_length:
        state = None
    return _to_client(TooLargeError(problem, redirect_uri=redirect_uri, state=state))


def _max_age(value: str, redirect_uri: str, state: str | None) -> str:
    """max_age (OIDC Core 3.1.2.1) in its plain form: ASCII digits only ("²" is a digit to
    str.isdigit() and to int()), and few enough of them."""
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_AGE_DIGITS):
        raise InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=redirect_uri, state=state)
    return str(int(value))


def _consent_scopes(scope: str, claims_request: dict[str, Any] | None, client_scopes: list[str]) -> str:
    """The scopes a person allows by consenting to this request: those asked for, then those
    that carry the claims asked for one by one in `claims` (which are released only so)."""
    asked: set[str] = set()
    for target in CLAIMS_TARGETS:
        asked |= requested_claim_names(claims_request, target)
    scopes = scope.split()
    extra = scopes_of_claims(asked, client_scopes)
    return " ".join(scopes + [s for s in client_scopes if s in extra and s not in scopes])


def _kept_an_interaction(_response: Response) -> bool:
    return bool(g.get("interaction_kept"))


def _too_many(_limit: RequestLimit) -> Response:
    return make_response(error_response(
        429, _("Too many sign-in requests came from your network. Please wait a few minutes and try again."),
        "temporarily_unavailable"))


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
# Only a request that leaves an interaction in the store (a step to show) counts: one answered at
# once keeps nothing. Once the limit is reached, no new interaction is opened from that address.
@limiter.limit(lambda: current_app.config["IDP"].throttling.authorize_per_ip, key_func=get_remote_address,
               deduct_when=_kept_an_interaction, on_breach=_too_many, scope="authorize-ip")
def authorize() -> ResponseReturnValue:
    """OpenID Connect Core 3.1.2: validate, then walk the pipeline."""
    server = _server()
    limits = current_app.config["IDP"].authorize
    params = {key: value for key, value in request.values.items() if key in AUTHORIZATION_PARAMETERS}
    problem = _size_problem(request.values, limits)
    if problem is not None:
        return _refuse_too_large(problem, params, limits)
    if not _DESCRIBABLE.fullmatch(request.values.get("response_type", "")):
        # Authlib writes an unknown response_type into its error description, whose characters
        # RFC 6749 §4.1.2.1 bounds, and raises ValueError on any other: refuse such a value first.
        return _to_client(UnsupportedResponseTypeError("(unreadable)"))
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
        if "max_age" in params:
            params["max_age"] = _max_age(params["max_age"], redirect_uri, state)
        if params.get("max_age") == "0":
            # A sign-in of age 0 is one made now: the same as prompt=login.
            params["prompt"] = " ".join(sorted(set(params.get("prompt", "").split()) | {"login"}))
        claims_request = _claims_request(params, redirect_uri, state)
        if claims_request is not None:
            # Kept as read: bounded, whatever nesting was sent.
            params["claims"] = json.dumps(claims_request, separators=(",", ":"))
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
    params[CONSENT_SCOPES] = _consent_scopes(params["scope"], claims_request, grant.client.config.scopes)
    browser = _browser_value()
    params[_BINDING] = hash_token(browser)
    interaction = pipeline.start(grant.client.get_client_id(), params,
                                 return_to=lambda uid: url_for("oidc.resume", uid=uid))
    response = _continue(interaction)
    if g.get("interaction_kept") and session.get(BROWSER_KEY) != browser:
        session[BROWSER_KEY] = browser
    return response


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
    interaction.address = request.remote_addr
    if interaction.client is None:
        pipeline.finish(interaction.uid)
        return error_response(400, None, "invalid_client")
    if not address_allowed(interaction.address, interaction.client.allowed_networks):
        # clients[].allowed_networks, the security team's rule: this portal only from its networks.
        pipeline.finish(interaction.uid)
        if "none" in interaction.prompts:
            return _to_client(AccessDeniedError(redirect_uri=redirect_uri, state=state))
        return error_response(403, _("This application can be used only from the networks its owner has allowed. "
                                     "Please connect from one of them, or ask your IT department."), "access_denied")

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
        g.interaction_kept = True  # counted by /authorize's limit per IP
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
            claims_request = parse_claims_request(params["claims"])
        except ValueError:
            claims_request = None  # checked when the request came in
    company_id = company.get("company_id") or chosen_company_id(interaction, active_memberships(interaction.user))
    principal = Principal(user=interaction.user, auth_time=facts.auth_time, amr=list(facts.amr), sid=facts.sid,
                          company_id=company_id, nonce=params.get("nonce"), claims_request=claims_request,
                          allowed_ips=restrictions.allowed_ips_of(interaction.user, company_id))
    server = _server()
    oauth_request = StoredRequest(params)
    oauth_request.user = principal
    try:
        grant = server.get_authorization_grant(oauth_request)
        # Validated here first (Authlib validates again below): should the stored request no
        # longer check out (the configuration changed meanwhile), the error is ours, a page in
        # the person's language or the redirect, where Authlib would answer JSON to the browser.
        grant.validate_authorization_request()
    except OAuth2Error as error:
        error.state = params.get("state")
        return _to_client(error)
    return server.create_authorization_response(request=oauth_request, grant_user=principal, grant=grant)
