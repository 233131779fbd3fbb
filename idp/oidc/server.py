"""Authlib's authorization server, with this provider's grants, PKCE policy and ID tokens."""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode, OpenIDToken
from authlib.oidc.core.grants.util import create_half_hash
from flask import Flask, current_app, has_request_context
from flask import request as flask_request

from idp import audit
from idp.companies import restrictions
from idp.config import TOKEN_EXCHANGE
from idp.extensions import db
from idp.models import User
from idp.oidc import tokens
from idp.oidc.claims import company_claims, releasable_claim_names, requested_claim_names, user_claims
from idp.oidc.clients import check_basic_authorization, query_client
from idp.oidc.tokens import Principal, RefreshCredential
from idp.security import api_keys
from idp.security.mfa.policy import has_second_factor, required_by_policy
from idp.security.restrictions import address_allowed
from idp.security.throttling import CLIENT_AUTH_CLIENT, ClientAuthThrottle
from idp.store import put_json, take_json

CODE_KEY = "code:"  # TTL: tokens.code_ttl_seconds
CODE_USED_KEY = "code-used:"  # TTL: tokens.access_token_ttl_seconds; what a redeemed code issued


def _config() -> Any:
    return current_app.config["IDP"]


class StoredCode:
    """An authorization code taken from the store, as Authlib's grant sees it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.code_challenge = data.get("code_challenge")
        self.code_challenge_method = data.get("code_challenge_method")

    def get_redirect_uri(self) -> str:
        return self.data["redirect_uri"]

    def get_scope(self) -> str:
        return self.data["scope"]

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int | None:
        return self.data.get("auth_time")


class S256Challenge(CodeChallenge):
    """PKCE with S256 only (plain is refused for everyone); required for public clients (RFC 7636, RFC 9700)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's knob
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        payload = grant.request.payload.data
        if payload.get("code_challenge") and payload.get("code_challenge_method") != "S256":
            # Absent means plain (RFC 7636 4.3), which we refuse.
            raise InvalidRequestError("Unsupported 'code_challenge_method'")
        if not payload.get("code_challenge") and grant.request.client.is_public:
            raise InvalidRequestError("Missing 'code_challenge'")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        principal: Principal = request.user
        payload = request.payload.data
        data = {
            "client_id": request.client.get_client_id(),
            "redirect_uri": payload.get("redirect_uri"),
            "scope": request.scope or "",
            "user_id": principal.user.id,
            "nonce": payload.get("nonce"),
            "auth_time": principal.auth_time,
            "amr": principal.amr,
            "sid": principal.sid,
            "company_id": principal.company_id,
            "claims_request": principal.claims_request,
            "code_challenge": payload.get("code_challenge"),
            "code_challenge_method": payload.get("code_challenge_method"),
            "family_id": principal.family_id,
            "jti": principal.jti,
            "allowed_ips": principal.allowed_ips,
        }
        put_json(CODE_KEY + tokens.hash_token(code), data, _config().tokens.code_ttl_seconds)

    def query_authorization_code(self, code: str, client: Any) -> StoredCode | None:
        key = tokens.hash_token(code)
        # The take is the atomic single-use gate: of two racing redemptions only one gets the code.
        data = take_json(CODE_KEY + key)
        if data is None:
            used = take_json(CODE_USED_KEY + key)
            if used is not None:
                # A second redemption: revoke what the first one issued (RFC 6749 section 4.1.2).
                tokens.revoke_family(used["family_id"])
                tokens.deny_access_token(used["jti"])
            return None
        put_json(CODE_USED_KEY + key, {"family_id": data["family_id"], "jti": data["jti"]},
                 _config().tokens.access_token_ttl_seconds)
        if data["client_id"] != client.get_client_id():
            return None
        return StoredCode(data)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        return None  # already taken from the store

    def authenticate_user(self, authorization_code: StoredCode) -> Principal | None:
        data = authorization_code.data
        user = tokens.grant_user(data["user_id"])
        if user is None:
            return None
        claims_request = data.get("claims_request")
        userinfo = releasable_claim_names(requested_claim_names(claims_request, "userinfo"),
                                          self.request.client.config.scopes)
        return Principal(user=user, auth_time=data.get("auth_time"), amr=list(data.get("amr") or []),
                         sid=data.get("sid"), company_id=data.get("company_id"), family_id=data["family_id"],
                         jti=data["jti"], nonce=data.get("nonce"), claims_request=claims_request,
                         userinfo_claims=sorted(userinfo), allowed_ips=data.get("allowed_ips"))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        return tokens.claim_refresh_token(refresh_token, self.request.client.get_client_id())

    def authenticate_user(self, refresh_token: RefreshCredential) -> Principal | None:
        user = tokens.grant_user(refresh_token.row.user_id)
        if user is None:
            return None
        principal = refresh_token.principal(user)
        if restrictions.address_refused(user, principal.company_id, _address(self.request), principal.allowed_ips):
            # The member's allowed_ips for the family's company: the token is left unused (the claim
            # is rolled back), so that it still works from an allowed address.
            _refuse("refresh_token.address_refused", self.request, user=user, client_id=refresh_token.row.client_id)
            raise InvalidGrantError("The refresh token may not be used from this address.")
        config = _config()
        if (config.mfa.required_for and not has_second_factor(principal.amr)
                and required_by_policy(config, user, principal.memberships, principal.company_id,
                                       refresh_token.row.client_id)):
            # The policy changed since this sign-in: it now asks for a second factor the sign-in did
            # not prove. The person signs in again (and the token is left unused, as above).
            _refuse("refresh_token.mfa_required", self.request, user=user, client_id=refresh_token.row.client_id)
            raise InvalidGrantError("This sign-in needs a second factor: sign in again.")
        return principal

    def revoke_old_credential(self, refresh_token: RefreshCredential) -> None:
        return None  # rotated when it was claimed


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012


ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - RFC 8693 section 3


def _address(request: OAuth2Request) -> str | None:
    """The client's address. The early token path has no request context: its request carries the
    address (idp.oidc.token_request.TokenRequest); the others are Authlib's Flask requests."""
    address = getattr(request, "remote_addr", None)
    if address is None and has_request_context():
        address = flask_request.remote_addr
    return address


def _refuse(event: str, request: OAuth2Request, **details: Any) -> None:
    """Audit a refused grant now: an error answer commits nothing, and what the request had begun
    (a refresh token's rotation) is rolled back first, so the audit row is all that is kept."""
    db.session.rollback()
    audit.record(event, ip=_address(request), user_agent=request.headers.get("User-Agent"), **details)
    db.session.commit()


class ApiKeyThrottledError(InvalidGrantError):
    """A key exchanged more often than throttling.api_key_per_key allows: 429 with Retry-After,
    as for a throttled client (see ClientThrottledError)."""

    status_code = 429
    description = "Too many exchanges of this API key. Reuse the access token until it expires."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """RFC 8693 token exchange of a REST API key (DESIGN.md "REST API keys") for a short-lived
    RFC 9068 access token of the key's user in the key's company; never a refresh token.

    Any refusal of the key itself (unknown, revoked, expired, a disabled user, an inactive
    membership, an address outside the member's allowed_ips) is `invalid_grant` (RFC 6749
    section 5.2), one answer for all, so the error tells a key's holder nothing about the account.
    """

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client may not use the grant type '{self.GRANT_TYPE}'.")
        self.request.client = client
        payload = self.request.payload.data
        # RFC 8693 section 2.1: subject_token and subject_token_type are required; only keys are
        # exchanged here, for access tokens, and no actor token is taken (no delegation).
        if not payload.get("subject_token"):
            raise InvalidRequestError("Missing 'subject_token'.")
        if payload.get("subject_token_type") != api_keys.TOKEN_TYPE:
            raise InvalidRequestError(f"'subject_token_type' must be '{api_keys.TOKEN_TYPE}'.")
        if payload.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequestError(f"'requested_token_type' must be '{ACCESS_TOKEN_TYPE}'.")
        if payload.get("actor_token") or payload.get("actor_token_type"):
            raise InvalidRequestError("Actor tokens are not supported.")
        address = _address(self.request)
        key = api_keys.find_presented(payload["subject_token"])
        if key is not None:
            limit = api_keys.use_limit(key)
            if not limit.spend():
                if limit.once_per_window("audit"):
                    _refuse("api_key.throttled", self.request, user=key.user, company=key.company, key=key.public_id,
                            client_id=client.get_client_id())
                raise ApiKeyThrottledError(limit.seconds_left())
        usable = api_keys.refusal(key, address)
        if isinstance(usable, str):
            _refuse("api_key.refused", self.request, user=key.user if key else None,
                    company=key.company if key else None, key=key.public_id if key else None, reason=usable,
                    client_id=client.get_client_id())
            raise InvalidGrantError("The API key is not valid.")
        granted = usable.key.scope.split()
        asked = (self.request.payload.scope or "").split()
        if any(scope not in granted for scope in asked):
            raise InvalidScopeError("The API key does not grant this scope.")
        self.usable = usable
        self.scope = " ".join(scope for scope in granted if not asked or scope in asked)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        usable, client = self.usable, self.request.client
        ttl = _config().tokens.access_token_ttl_seconds
        principal = Principal(user=usable.user, company_id=usable.membership.company.public_id)
        claims = tokens.access_token_claims(client.get_client_id(), self.scope, principal, ttl)
        # The company claims of the key's membership alone, whatever the scope: a key acts for one company.
        claims.update(company_claims(usable.user, principal.company_id, [usable.membership]))
        claims["api_key"] = usable.key.public_id
        token = {"access_token": tokens.sign(claims, "RS256", "at+jwt"), "issued_token_type": ACCESS_TOKEN_TYPE,
                 "token_type": "Bearer", "expires_in": ttl, "scope": self.scope}
        address = _address(self.request)
        api_keys.record_use(usable.key, address)
        audit.record("api_key.used", ip=address, user_agent=self.request.headers.get("User-Agent"),
                     user=usable.user, company=usable.membership.company, key=usable.key.public_id,
                     client_id=client.get_client_id(), jti=claims["jti"])
        # Committed by the token endpoint once the answer is built (idp.oidc.endpoints.finish_grant).
        return 200, token, self.TOKEN_RESPONSE_HEADER


class IdToken(OpenIDCode):
    """ID tokens (OpenID Connect Core 2 and 3.1.3.6) signed with the client's algorithm."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        return id_token_for(token, request.client, request.user)


class RefreshIdToken(OpenIDToken):
    """A fresh ID token on refresh (OpenID Connect Core 12.2), from the family's sign-in."""

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        principal: Principal = request.user
        principal.nonce = None
        return id_token_for(token, request.client, principal)


def id_token_for(token: dict[str, Any], client: Any, principal: Principal) -> str:
    alg = client.id_token_signed_response_alg or "RS256"
    now = int(time.time())
    scopes = (token.get("scope") or "").split()
    extra = releasable_claim_names(requested_claim_names(principal.claims_request, "id_token"), client.config.scopes)
    claims = user_claims(principal.user, scopes, principal.company_id, extra, lambda: principal.memberships)
    claims.update({
        "iss": _config().issuer,
        "aud": client.get_client_id(),
        "iat": now,
        "exp": now + _config().tokens.id_token_ttl_seconds,
        "auth_time": principal.auth_time or now,
    })
    if principal.amr:
        # Only what the session proved: no amr (and so no acr) is claimed without a method.
        claims["amr"] = principal.amr
        claims["acr"] = principal.acr
    if principal.sid:
        claims["sid"] = principal.sid
    if principal.nonce:
        claims["nonce"] = principal.nonce
    at_hash = create_half_hash(token["access_token"], alg)
    if at_hash is not None:
        claims["at_hash"] = at_hash.decode()
    return tokens.sign(claims, alg)


class Revocation(RevocationEndpoint):
    """RFC 7009: a refresh token revokes its family; an access token is denied until it expires."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_any_token(token_string, token_type_hint)

    def check_params(self, request: Any, client: Any) -> None:
        # An unknown hint is ignored: the token is looked up whatever its type (RFC 7009 section 2.1).
        if "token" not in request.form:
            raise InvalidRequestError()

    def authenticate_token(self, request: Any, client: Any) -> Any:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # A token of another client is answered like an unknown one (RFC 7009 section 2.2).
        if token is not None and not token.check_client(client):
            return None
        return token

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, RefreshCredential):
            tokens.revoke_family(token.row.family_id)
        else:
            tokens.deny_access_token(token.claims.get("jti"))


class AccessCredential:
    """A verified JWT access token, as the revocation and introspection endpoints see it."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    def check_client(self, client: Any) -> bool:
        return self.claims.get("client_id") == client.get_client_id()

    def is_expired(self) -> bool:
        return self.claims["exp"] < time.time()

    def is_revoked(self) -> bool:
        return tokens.is_access_token_denied(self.claims.get("jti"))


def find_any_token(token_string: str, hint: str | None) -> Any:
    if token_string.count(".") == 2:
        claims = tokens.verify(token_string, typ="at+jwt")
        return AccessCredential(claims) if claims is not None else None
    row = tokens.find_refresh_token(token_string)
    return RefreshCredential(row) if row is not None else None


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for confidential clients (resource servers)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_any_token(token_string, token_type_hint)

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        # A refresh token only to the client it was issued to; access tokens to any resource server.
        if isinstance(token, RefreshCredential):
            return token.check_client(client)
        return True

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, RefreshCredential):
            row = token.row
            user = db.session.get(User, row.user_id)
            if user is None or not user.is_active:
                return {"active": False}
            return {"active": True, "token_type": "refresh_token", "client_id": row.client_id, "scope": row.scope,
                    "sub": user.public_id, "exp": int(row.expires_at.timestamp()),
                    "iat": int(row.created_at.timestamp()), "iss": _config().issuer}
        claims = dict(token.claims)
        if claims.get("sub") != claims.get("client_id"):
            # A person's token dies with the person's account, whatever its expiry says.
            user = db.session.execute(db.select(User).where(User.public_id == claims.get("sub"))).scalar_one_or_none()
            if user is None or not user.is_active:
                return {"active": False}
        if "api_key" in claims and not api_keys.still_usable(claims["api_key"]):
            # A revoked key, or a deactivated membership: its tokens end there too.
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}


class Server(AuthorizationServer):
    """Authlib's Flask server over the static clients; the token generator signs JWTs."""

    def create_bearer_token_generator(self, config: Any) -> Any:
        return tokens.generate_token

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        # The token endpoint passes a request it read itself (idp.oidc.token_request).
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def create_token_response(self, request: Any = None) -> Any:
        return self.handle_response(*self.token_answer(self.create_oauth2_request(request)))

    def token_answer(self, request: OAuth2Request) -> tuple[int, Any, list[tuple[str, str]]]:
        """The token endpoint's answer as Authlib's grants give it, (status, body, headers), before
        it becomes a response: Authlib's create_token_response, with the early path of
        idp.oidc.token_endpoint writing it out directly rather than through a Flask response."""
        # RFC 6749 section 3.2: no parameter more than once (Authlib checks this only at /authorize).
        repeated = sorted(name for name, values in request.payload.datalist.items() if len(values) > 1)
        try:
            if repeated:
                raise InvalidRequestError(f"Repeated parameter '{repeated[0]}'.")
            grant = self.get_token_grant(request)
            grant.validate_token_request()
            return grant.create_token_response()
        except OAuth2Error as error:
            return error(self.get_error_uri(request, error))

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        # RFC 6749 section 2.3: one authentication method per request, never two.
        if request.headers.get("Authorization") and request.form.get("client_secret"):
            raise InvalidRequestError("Use one client authentication method.")
        check_basic_authorization(request.headers)  # malformed credentials: a 400, before anything reads them
        # RFC 6749 section 10.10: guessing of client secrets is throttled, per client_id and per
        # address, on every endpoint that authenticates clients (/token, /introspect, /revoke).
        # Checked before authenticating: once a limit is reached the right secret is refused too.
        attempt = ClientAttempt.of(request, endpoint)
        throttle = ClientAuthThrottle.for_attempt(attempt.claimed_id, attempt.address)
        exhausted = throttle.exhausted()
        if exhausted is not None:
            if exhausted.once_per_window("audit"):  # one row per lockout, not one per refused request
                attempt.record("client.locked_out", scope="client" if exhausted.scope == CLIENT_AUTH_CLIENT else "ip")
            raise ClientThrottledError(exhausted.seconds_left())
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            throttle.count_failure()
            attempt.record("client.authentication_failed")
            raise
        if not address_allowed(attempt.address, client.config.allowed_networks):
            # clients[].allowed_networks: the security team's rule for this portal.
            attempt.record("client.network_refused")
            raise UnauthorizedClientError("The client may not be used from this network.")
        return client

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Any:
        response = super().handle_response(status_code, payload, headers)
        if response.mimetype == "application/json":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response


class ClientThrottledError(InvalidClientError):
    """Too many failed authentications of a client_id, or from an address.

    RFC 6749 defines no throttling error, so the answer is its section 5.2 JSON error
    `invalid_client` (what a client's library expects of a refused authentication) with the
    status of RFC 6585 section 4, 429, and Retry-After: the window's end. That is what the large
    providers answer when they throttle (429 with an OAuth JSON body); and the operator of a
    client refused with its right secret learns why, rather than rotating a secret that works.
    A client_id is no secret and the limit counts unknown ones alike: the 429 tells nothing
    about which clients exist.
    """

    status_code = 429
    description = "Too many failed client authentications. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class ClientAttempt:
    """Who tried to authenticate as a client, as the throttles and the audit log see it."""

    def __init__(self, claimed_id: str | None, address: str | None, user_agent: str | None, endpoint: str,
                 method: str) -> None:
        self.claimed_id = claimed_id
        self.address = address
        self.user_agent = user_agent
        self.endpoint = endpoint
        self.method = method

    @classmethod
    def of(cls, request: OAuth2Request, endpoint: str) -> ClientAttempt:
        basic_id, _secret = extract_basic_authorization(request.headers)
        if basic_id:
            claimed, method = basic_id, "client_secret_basic"
        else:
            claimed = request.payload.client_id
            method = "client_secret_post" if request.form.get("client_secret") else "none"
        return cls(claimed or None, _address(request), request.headers.get("User-Agent"), endpoint, method)

    def record(self, event: str, **details: Any) -> None:
        """Audit (and log) the attempt at once: the request's answer is an error, which commits nothing.
        The client_id is written only when it names a client; no secret is ever written."""
        client = query_client(self.claimed_id)
        audit.record(event, ip=self.address, user_agent=self.user_agent, endpoint=self.endpoint,
                     method=self.method, client_id=client.client_id if client is not None else None,
                     known_client=client is not None, **details)
        db.session.commit()


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return _config().issuer


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    if "refresh_token" in token and isinstance(request.user, Principal):
        tokens.save_refresh_token(token["refresh_token"], request.client.get_client_id(), request.user,
                                  token.get("scope") or "")


def create_server(app: Flask) -> Server:
    server = Server()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.scopes_supported = None  # unknown scopes are dropped per client, not refused
    server.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True), IdToken(require_nonce=False)])
    server.register_grant(RefreshTokenGrant, [RefreshIdToken()])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_extension(Issuer())
    return server
