"""The protocol's API endpoints: token, userinfo, revocation, introspection, JWKS and discovery."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from idp import metrics
from idp.companies import active_memberships, find_membership
from idp.config import TOKEN_EXCHANGE
from idp.extensions import db
from idp.models import Membership, User
from idp.oidc import tokens
from idp.oidc.claims import (
    ACR_VALUES,
    CLAIMS_SUPPORTED,
    SCOPES_SUPPORTED,
    releasable_claim_names,
    user_claims,
)
from idp.oidc.clients import query_client
from idp.oidc.keys import keyring
from idp.oidc.token_request import TOKEN_PATH, token_request

bp = Blueprint("oidc_api", __name__)

# The JWKS and the discovery document: cacheable by anyone; the latter readable by any web page.
PUBLIC_DOCUMENT_HEADERS = {"Cache-Control": "public, max-age=300"}
DISCOVERY_HEADERS = {"Access-Control-Allow-Origin": "*"}


def _server() -> Any:
    return current_app.extensions["idp.server"]


@bp.post(TOKEN_PATH)
def token() -> ResponseReturnValue:
    """RFC 6749 section 3.2; errors are JSON with the RFC's codes (section 5.2).

    Most token requests are answered before Flask's dispatch (idp.oidc.token_endpoint); this
    view answers the others (a multipart body, parameters in the query string) the same way.
    """
    response = _server().create_token_response(token_request(request))
    finish_grant(response.status_code)
    metrics.count_token(response.status_code, request.values.get("grant_type"))
    return response


def finish_grant(status: int) -> None:
    """Commit what a granted token request stored, once, after the whole answer is built: a
    refresh token rotated and its successor. Should the commit fail, no token is handed out
    (ServiceUnavailable is raised instead)."""
    # registry.has(): a grant that never touched the database (client_credentials) does not
    # create a session only to find it empty.
    if status != 200 or not db.session.registry.has() or not db.session().in_transaction():
        return  # an error, or a grant that stored nothing
    try:
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.exception("token endpoint: could not store the grant")
        raise ServiceUnavailable() from exc


@bp.post("/revoke")
def revoke() -> ResponseReturnValue:
    return _server().create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect() -> ResponseReturnValue:
    return _server().create_endpoint_response("introspection")


def _bearer_error(error: str, status: int, description: str | None = None) -> ResponseReturnValue:
    # RFC 6750 section 3: the error is in WWW-Authenticate.
    challenge = 'Bearer realm="userinfo"'
    if error:
        challenge += f', error="{error}"'
        if description:
            challenge += f', error_description="{description}"'
    body = {"error": error or "invalid_request"}
    if description:
        body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> ResponseReturnValue:
    """OpenID Connect Core 5.3, with the bearer token in the header or the form body (RFC 6750 2.1, 2.2)."""
    header = request.headers.get("Authorization", "")
    from_body = request.form.get("access_token") if request.method == "POST" and request.mimetype == (
        "application/x-www-form-urlencoded") else None
    if header and from_body:
        return _bearer_error("invalid_request", 400, "Use one way to send the token.")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return _bearer_error("invalid_request", 400, "Expected a Bearer token.")
        raw = raw.strip()
    elif from_body:
        raw = from_body
    else:
        return _bearer_error("", 401)
    claims = tokens.verify(raw, typ="at+jwt")
    if claims is None or tokens.is_access_token_denied(claims.get("jti")):
        return _bearer_error("invalid_token", 401, "The access token is invalid, expired or revoked.")
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        return _bearer_error("insufficient_scope", 403, "The token was not issued for openid.")
    user = db.session.execute(db.select(User).where(User.public_id == claims["sub"])).scalar_one_or_none()
    if user is None or not user.is_active:
        return _bearer_error("invalid_token", 401, "The access token is invalid, expired or revoked.")
    memberships = active_memberships(user)
    company = _company_public_id(memberships, claims.get("company_id"))
    answer = user_claims(user, scopes, company, _requested_claims(claims), lambda: memberships)
    # How the person signed in, as the access token (ours, signed) carries it: what a resource
    # server reads to decide on a step-up.
    for name in ("amr", "acr", "auth_time"):
        if name in claims:
            answer[name] = claims[name]
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def _requested_claims(claims: dict[str, Any]) -> set[str]:
    """The claims asked for under `claims.userinfo` at sign-in, still within what the client may have."""
    names = claims.get(tokens.USERINFO_CLAIMS)
    client = query_client(claims.get("client_id"))
    if not isinstance(names, list) or client is None:
        return set()
    return releasable_claim_names({str(name) for name in names}, client.config.scopes)


def _company_public_id(memberships: list[Membership], external_id: str | None) -> str | None:
    """The company chosen at sign-in, carried by the access token as its external id."""
    membership = find_membership(memberships, external_id)
    return membership.company.public_id if membership is not None else None


@bp.get("/jwks")
def jwks() -> ResponseReturnValue:
    response = jsonify(keyring().public_jwks())
    response.headers.update(PUBLIC_DOCUMENT_HEADERS)
    return response


def discovery_document() -> dict[str, Any]:
    config = current_app.config["IDP"]
    issuer = config.issuer

    def url(endpoint: str) -> str:
        return issuer + url_for(endpoint)

    return {
        "issuer": issuer,
        "authorization_endpoint": url("oidc.authorize"),
        "token_endpoint": url("oidc_api.token"),
        "userinfo_endpoint": url("oidc_api.userinfo"),
        "jwks_uri": url("oidc_api.jwks"),
        "revocation_endpoint": url("oidc_api.revoke"),
        "introspection_endpoint": url("oidc_api.introspect"),
        "end_session_endpoint": url("logout.logout"),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page"],
        "claim_types_supported": ["normal"],
        "ui_locales_supported": list(config.languages),
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> ResponseReturnValue:
    response = jsonify(discovery_document())
    response.headers.update(PUBLIC_DOCUMENT_HEADERS)
    response.headers.update(DISCOVERY_HEADERS)
    return response
