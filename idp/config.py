"""The static configuration: one YAML file validated by pydantic, secrets pulled from ${ENV}.

Every key is a contract (see config/demo.yaml, the commented reference). Unknown keys are
errors so that a typo is caught at start rather than silently ignored. This module imports
nothing from the rest of the package, so `idp check-config` works without an application.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from limits import parse_many
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

KNOWN_PASSWORD_CLASSES = ("upper", "lower", "digit", "special")


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one "key.path: message" line per problem.

    `config` is what could be read of it (see `_partial`): the valid parts as values, the invalid
    ones as INVALID, so that checks made outside this module (the flows) can still run; None when
    the file could not be read at all.
    """

    def __init__(self, errors: list[str], config: Any = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.config = config


class _Undecidable(Exception):
    """A check read a value that failed validation: it cannot tell whether it holds."""


class _Invalid:
    """Stands for a value that failed validation while the checks run anyway (see `_partial`).

    Any use of it raises _Undecidable, so a check that depends on it is skipped rather than
    reporting an error that would only follow from the first one. `is None` is False: the key
    was given, so a "required" check stays quiet too.
    """

    __slots__ = ()

    def _undecidable(self, *args: Any, **kwargs: Any) -> Any:
        raise _Undecidable

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _undecidable
    __len__ = __iter__ = __contains__ = __getitem__ = __getattr__ = __call__ = _undecidable
    __str__ = __format__ = __int__ = __float__ = __index__ = __add__ = __radd__ = _undecidable

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


def collect_checks(*checks: Callable[[], list[str]]) -> list[str]:
    """The error lines of every check, each run on its own: one that reads an INVALID value is
    skipped, and the others still report (a model-level validator made of several checks)."""
    errors: list[str] = []
    for check in checks:
        try:
            errors.extend(check())
        except _Undecidable:
            continue
    return errors


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LocalizedText(_Model):
    """A text the operator writes once per language, e.g. a portal or role name."""

    en: str
    fr: str

    def get(self, locale: str | None) -> str:
        return self.fr if (locale or "").startswith("fr") else self.en


class SmtpConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = Field(10.0, gt=0)
    ca_file: str | None = None  # a private CA to trust for the server's certificate

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpConfig:
        if self.starttls and self.ssl:
            raise ValueError("choose either starttls or ssl, not both")
        return self


class MailConfig(_Model):
    backend: Literal["smtp", "file", "console"] = "file"
    from_: str = Field("Portail <no-reply@example.com>", alias="from")
    directory: str = "mail"  # file backend, relative to instance_path
    smtp: SmtpConfig | None = None
    # The sender retries with exponential backoff up to max_attempts, then gives the row up
    # as failed (still in SQL, so an operator can requeue it).
    max_attempts: int = Field(12, ge=1, le=100)
    retry_base_seconds: float = Field(30.0, gt=0)
    worker: bool = True  # deliver from a background thread of each serving process
    # The bodies of sent emails (with their single-use links) are emptied after this many days;
    # recipient, subject and status stay for the operators (idp.mail.drop_sent_bodies).
    keep_sent_days: int = Field(7, ge=0, le=3650)

    @model_validator(mode="after")
    def _smtp_needs_settings(self) -> MailConfig:
        if self.backend == "smtp" and self.smtp is None:
            raise ValueError("backend smtp needs an smtp section")
        return self


class PasswordPolicyConfig(_Model):
    min_length: int = Field(8, ge=6, le=128)
    max_length: int = Field(128, ge=16, le=1024)
    require: list[str] = ["upper", "lower", "digit", "special"]
    blocklist: bool = True

    @field_validator("require")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        for item in value:
            if item not in KNOWN_PASSWORD_CLASSES:
                raise ValueError(f"unknown character class {item!r}; use {', '.join(KNOWN_PASSWORD_CLASSES)}")
        return value


class PasswordHashingConfig(_Model):
    """argon2id cost. The floor is OWASP's recommendation (19 MiB, t=2, p=1); it cannot go lower."""

    time_cost: int = Field(2, ge=2, le=20)
    memory_cost_kib: int = Field(19456, ge=19456, le=4 * 1024 * 1024)
    parallelism: int = Field(1, ge=1, le=16)
    # Hashes computed at once per process; by default one per core the process may run on.
    # More do not finish sooner: they share the cores, evict each other's memory from the caches
    # and each holds its memory_cost_kib.
    concurrency: int | None = Field(None, ge=1, le=256)


class SessionConfig(_Model):
    lifetime_hours: float = Field(12.0, gt=0, le=24 * 90)
    # Until someone signs in (a form's CSRF token is all it holds): short, so that anonymous visits
    # cannot fill the store; it is also how long a sign-in or sign-up page may stay open.
    anonymous_lifetime_minutes: float = Field(30.0, ge=1, le=24 * 60)
    cookie_name: str = "idp_session"

    @model_validator(mode="after")
    def _anonymous_is_shorter(self) -> SessionConfig:
        if self.anonymous_lifetime_minutes > self.lifetime_hours * 60:
            raise ValueError("anonymous_lifetime_minutes must not exceed lifetime_hours")
        return self


def check_rate(value: str) -> str:
    """A limit in Flask-Limiter's notation ("10 per 15 minutes", "5/hour"; several joined by ";")."""
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"not a rate limit: {value!r} (write it like '10 per 15 minutes')") from None
    return value


Rate = Annotated[str, AfterValidator(check_rate)]


class ThrottlingConfig(_Model):
    """Limits in Flask-Limiter's notation; only failed sign-ins count against them."""

    login_per_account: str = "10 per 15 minutes"
    login_per_ip: str = "50 per 15 minutes"
    # Every valid request counts for these (they send mail): per address as typed (hashed) and per IP.
    # Over a limit the page answers as usual and sends nothing (idp.security.throttling).
    forgot_password_per_account: str = "5 per hour"  # noqa: S105 - a rate, not a password
    forgot_password_per_ip: str = "30 per hour"  # noqa: S105 - a rate, not a password
    confirm_resend_per_account: str = "5 per hour"
    confirm_resend_per_ip: str = "30 per hour"
    register_per_ip: str = "20 per hour"
    # Wrong company identifiers or member codes (the code is a guessable secret): per user and per IP.
    company_join_per_user: str = "10 per hour"
    company_join_per_ip: str = "30 per hour"
    account_request_per_ip: str = "10 per hour"  # every request counts: each one is work for an operator
    # Failed client authentications at /token, /introspect and /revoke: per client_id as sent
    # (known or not) and per IP. Once reached, even the right secret gets a 429 until the window ends.
    client_auth_per_client: str = "20 per 15 minutes"
    client_auth_per_ip: str = "50 per 15 minutes"
    # Authorization requests that leave a sign-in in progress (each kept in the store for
    # tokens.interaction_ttl_seconds), per IP. Offices behind one address sign in together: room for them.
    authorize_per_ip: Rate = "200 per 10 minutes"
    # Wrong second factors (TOTP codes, recovery codes, WebAuthn assertions) per account; counted
    # like failed passwords, and once reached even the right code is refused until the window ends.
    mfa_per_account: Rate = "5 per 5 minutes"
    # Exchanges of one API key at /token, every one counted: a leaked key's use is slowed down, and a
    # REST client that asks for a token per call rather than reusing it until expires_in is told so.
    api_key_per_key: Rate = "60 per 10 minutes"


class CompaniesConfig(_Model):
    directory: str | None = None
    identifier_kind: Literal["any", "siren", "pattern"] = "any"
    identifier_pattern: str | None = None
    # Document 001: web accounts asked for by a customer are created at once, without an operator.
    auto_approve_account_requests: bool = False

    @model_validator(mode="after")
    def _pattern_compiles(self) -> CompaniesConfig:
        if self.identifier_kind == "pattern":
            if not self.identifier_pattern:
                raise ValueError("identifier_kind pattern needs identifier_pattern")
            try:
                re.compile(self.identifier_pattern)
            except re.error as exc:
                raise ValueError(f"identifier_pattern does not compile: {exc}") from None
        return self


class InvitationsConfig(_Model):
    ttl_days: float = Field(7, gt=0, le=90)


class TotpConfig(_Model):
    """RFC 6238 parameters. Authenticator apps assume SHA-1, 6 digits and 30 s; change them only
    for apps known to honour the otpauth:// URI's parameters."""

    issuer: str = Field("Portail", min_length=1, max_length=64)
    digits: Literal[6, 8] = 6
    period: int = Field(30, ge=15, le=120)
    # Steps accepted on either side of the current one, for clocks that drift.
    skew: int = Field(1, ge=0, le=2)


MFA_METHODS = ("totp", "webauthn")
# Who must prove a second factor (DESIGN.md, "Second factors"): plain selectors, and kind:value ones.
MFA_SELECTORS = ("operators", "company_admins")
MFA_SELECTOR_KINDS = ("role", "company", "client")


def check_mfa_selector(value: str) -> str:
    kind, colon, name = value.partition(":")
    if value in MFA_SELECTORS or (colon and kind in MFA_SELECTOR_KINDS and name.strip() == name and name):
        return value
    raise ValueError(f"unknown selector {value!r}; use operators, company_admins, role:ROLE, company:ID or "
                     "client:CLIENT_ID")


MfaSelector = Annotated[str, AfterValidator(check_mfa_selector)]


class MfaConfig(_Model):
    """Second factors, owned by the security team: what people may enroll and who must use one."""

    methods: list[Literal["totp", "webauthn"]] = list(MFA_METHODS)
    required_for: list[MfaSelector] = []
    totp: TotpConfig = TotpConfig()
    recovery_codes: int = Field(10, ge=5, le=20)
    # Discoverable WebAuthn credentials may sign a person in from the login page, without a password.
    passkey_sign_in: bool = True

    @field_validator("methods")
    @classmethod
    def _some_method(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one method (totp, webauthn)")
        if len(set(value)) != len(value):
            raise ValueError("lists a method twice")
        return value

    def selectors(self, kind: str) -> list[tuple[int, str]]:
        """The (index, value) of each `kind:value` selector."""
        return [(index, selector.partition(":")[2]) for index, selector in enumerate(self.required_for)
                if selector.partition(":")[0] == kind]


def _is_loopback_host(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def check_redirect_uri(uri: str) -> str:
    """Accept https URLs, loopback http URLs and private-use schemes (RFC 8252 section 7)."""
    parts = urlsplit(uri)
    if parts.fragment:
        raise ValueError("must not contain a fragment")
    if "@" in parts.netloc:
        # https://shop.example.com@evil.example/ reads as one host and goes to another.
        raise ValueError("must not contain a user name or password (user@host)")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and _is_loopback_host(parts.hostname):
        return uri
    # RFC 8252 7.1: a private-use scheme is a reverse domain name, so it contains a dot.
    if parts.scheme and "." in parts.scheme and parts.scheme not in ("http", "https"):
        return uri
    raise ValueError("must be an absolute https URL, a loopback URL or a private-use scheme URI")


# Checked one by one, so that an error names the very item: clients[0].redirect_uris[1].
RedirectUri = Annotated[str, Field(min_length=1), AfterValidator(check_redirect_uri)]

def check_ip_network(value: str) -> str:
    """An IPv4 or IPv6 network in CIDR notation, or a single address; returned in canonical form."""
    try:
        return str(ipaddress.ip_network(value))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("not an IP network (an address, or a CIDR such as 10.0.0.0/8)") from None
    raise ValueError(f"has host bits set (did you mean {network}?)")


# Checked one by one, so that an error names the very item: trusted_proxies[1].
IpNetwork = Annotated[str, AfterValidator(check_ip_network)]


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - RFC 8693, for REST API keys
GrantType = Literal["authorization_code", "refresh_token", "client_credentials",
                    "urn:ietf:params:oauth:grant-type:token-exchange"]


class ClientConfig(_Model):
    """A relying party. Clients are configuration, not rows: the operator owns them."""

    client_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    name: LocalizedText | None = None
    secret: str | None = Field(None, min_length=16)
    redirect_uris: list[RedirectUri] = []
    post_logout_redirect_uris: list[RedirectUri] = []
    grant_types: list[GrantType] = ["authorization_code", "refresh_token"]
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] | None = None
    scopes: list[str] = ["openid", "profile", "email", "phone", "offline_access", "companies"]
    launch_url: str | None = None
    roles: list[str] | None = None
    require_consent: bool = False
    backchannel_logout_uri: str | None = None
    id_token_signed_response_alg: Literal["RS256", "ES256"] = "RS256"  # noqa: S105 - an algorithm name
    # The security team's rule: this portal only from these networks, at /authorize and at /token.
    allowed_networks: list[IpNetwork] | None = None

    @field_validator("backchannel_logout_uri", "launch_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClientConfig:
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("authorization_code needs at least one redirect_uri")
        if "client_credentials" in self.grant_types and self.secret is None:
            raise ValueError("client_credentials needs a secret (a confidential client)")
        if self.token_endpoint_auth_method == "none" and self.secret is not None:  # noqa: S105 - a method name
            raise ValueError("token_endpoint_auth_method none is for clients without a secret")
        if self.token_endpoint_auth_method not in (None, "none") and self.secret is None:
            raise ValueError(f"token_endpoint_auth_method {self.token_endpoint_auth_method} needs a secret")
        return self

    @property
    def is_public(self) -> bool:
        return self.secret is None

    @property
    def auth_method(self) -> str:
        if self.token_endpoint_auth_method:
            return self.token_endpoint_auth_method
        return "none" if self.is_public else "client_secret_basic"


class ApiKeysConfig(_Model):
    """REST API keys (idp.security.api_keys): issued by company admins, or by members themselves."""

    self_service: bool = False  # members issue and revoke their own keys at /account/api-keys
    scopes: list[str] = Field(["api"], min_length=1)  # what a key may be limited to (a subset)
    default_ttl_days: int = Field(90, ge=1, le=3650)
    max_ttl_days: int = Field(365, ge=1, le=3650)

    @field_validator("scopes")
    @classmethod
    def _scope_tokens(cls, value: list[str]) -> list[str]:
        # RFC 6749 section 3.3: a scope token is printable ASCII without space, " or \.
        bad = [scope for scope in value if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}", scope)]
        if bad:
            raise ValueError(f"not a scope token: {bad[0]!r} (printable ASCII, no space, quote or backslash)")
        return value

    @model_validator(mode="after")
    def _default_within_max(self) -> ApiKeysConfig:
        if self.default_ttl_days > self.max_ttl_days:
            raise ValueError("default_ttl_days must be at most max_ttl_days")
        return self


class OperatorsConfig(_Model):
    # The security team's rule: the operator pages (/admin/operator) only from these networks.
    allowed_networks: list[IpNetwork] | None = None


class MetricsConfig(_Model):
    # Who may read /metrics: the Prometheus servers. The address is the client's as resolved behind
    # trusted_proxies, so a load balancer's own address is not enough to list.
    allowed_networks: list[IpNetwork] = ["127.0.0.0/8", "::1/128"]


class LogConfig(_Model):
    # text: one line per event; json: one JSON object per event, for a log collector.
    format: Literal["text", "json"] = "text"


class AuditConfig(_Model):
    # Audit rows older than this are removed by the pruning job (and `idp db prune`); null keeps them all.
    retention_days: int | None = Field(365, ge=1)


class SentinelUrl(typing.NamedTuple):
    """A `redis+sentinel://` URL read: the Sentinel set, the service it watches, the database."""

    hosts: list[tuple[str, int]]
    service: str
    db: int
    username: str | None
    password: str | None


SENTINEL_SCHEMES = ("redis+sentinel://",)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """`redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]`; ValueError names
    what is wrong."""
    scheme, _, rest = url.partition("://")
    if scheme + "://" not in SENTINEL_SCHEMES:
        raise ValueError("not a redis+sentinel:// URL")
    userinfo, at, rest = rest.rpartition("@")
    username, _, password = userinfo.partition(":") if at else ("", "", "")
    netloc, _, path = rest.partition("/")
    hosts: list[tuple[str, int]] = []
    for item in netloc.split(","):
        host, colon, port = item.rpartition(":")
        if not colon:
            host, port = item, "26379"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    service, _, db = path.partition("/")
    if not service:
        raise ValueError("names no service (redis+sentinel://host:26379/mymaster/0)")
    if db and not (db.isascii() and db.isdigit()):
        raise ValueError(f"database {db!r} is not a number")
    return SentinelUrl(hosts, service, int(db or 0), username or None, password or None)


class AuthorizeConfig(_Model):
    """Sizes of an authorization request, in characters: each one is kept as an interaction for
    tokens.interaction_ttl_seconds, so what a stranger may make the provider hold is bounded."""

    max_parameter_length: int = Field(8192, ge=512, le=65536)  # each known parameter (an id_token_hint is long)
    max_request_length: int = Field(16384, ge=1024, le=1024 * 1024)  # every parameter together, known or not

    @model_validator(mode="after")
    def _whole_holds_a_part(self) -> AuthorizeConfig:
        if self.max_request_length < self.max_parameter_length:
            raise ValueError("max_request_length must be at least max_parameter_length")
        return self


class TokensConfig(_Model):
    code_ttl_seconds: int = Field(60, ge=10, le=600)
    access_token_ttl_seconds: int = Field(600, ge=60, le=86400)
    id_token_ttl_seconds: int = Field(600, ge=60, le=86400)
    refresh_token_ttl_days: float = Field(30, gt=0, le=365)
    interaction_ttl_seconds: int = Field(1800, ge=60, le=86400)


DEFAULT_ROLES = {
    "order": LocalizedText(en="Place an order", fr="Effectuer une commande"),
    "order_for_approval": LocalizedText(en="Place an order for approval", fr="Placer une commande pour approbation"),
    "prices_only": LocalizedText(en="See prices only", fr="Voir les prix uniquement"),
}


class IdpConfig(_Model):
    issuer: str
    secret_key: str | None = Field(None, min_length=32)
    # Previous secrets, kept while a rotation is under way (README, "Rotating the secret key"):
    # what was sealed or hashed under them still opens, nothing new is made under them.
    secret_key_fallbacks: list[Annotated[str, Field(min_length=32)]] = []
    database_url: str = "sqlite:///instance/idp.sqlite3"
    redis_url: str | None = None
    store_prefix: str = ""
    instance_path: str = "instance"
    demo: bool = False
    languages: list[Literal["fr", "en"]] = ["fr", "en"]
    default_language: Literal["fr", "en"] | None = None
    mail: MailConfig = MailConfig()
    password_policy: PasswordPolicyConfig = PasswordPolicyConfig()
    password_hashing: PasswordHashingConfig = PasswordHashingConfig()
    session: SessionConfig = SessionConfig()
    throttling: ThrottlingConfig = ThrottlingConfig()
    tokens: TokensConfig = TokensConfig()
    authorize: AuthorizeConfig = AuthorizeConfig()
    roles: dict[str, LocalizedText] = DEFAULT_ROLES
    companies: CompaniesConfig = CompaniesConfig()
    flows: list[str] = ["login"]
    mfa: MfaConfig = MfaConfig()
    invitations: InvitationsConfig = InvitationsConfig()
    clients: list[ClientConfig] = []
    api_keys: ApiKeysConfig = ApiKeysConfig()
    operators: OperatorsConfig = OperatorsConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    audit: AuditConfig = AuditConfig()
    max_content_length: int = Field(1024 * 1024, ge=16 * 1024)
    # The reverse proxies and load balancers in front of the provider: only from these is
    # X-Forwarded-For believed (idp.security.networks.client_address).
    trusted_proxies: list[IpNetwork] = []

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query or fragment (OpenID Connect Discovery 1.0, section 3)")
        if parts.scheme == "https" and parts.netloc:
            return value.rstrip("/")
        if parts.scheme == "http" and _is_loopback_host(parts.hostname):
            return value.rstrip("/")
        raise ValueError("must be an https URL (http only on a loopback address)")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(SENTINEL_SCHEMES):
            # A Sentinel set: the store and the rate limits follow its failovers without a restart.
            parse_sentinel_url(value)
            return value
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
        return value

    @field_validator("languages")
    @classmethod
    def _some_language(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one language")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> IdpConfig:
        errors = collect_checks(self._unique_client_ids, self._known_client_roles, self._offered_default_language,
                                self._secret_key_outside_demo, self._distinct_secret_keys,
                                self._consent_flow_for_consent,
                                self._known_mfa_selectors, self._token_exchange_clients,
                                self._api_keys_flow_for_self_service)
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def _unique_client_ids(self) -> list[str]:
        errors = []
        seen: set[str] = set()
        for index, client in enumerate(self.clients):
            if client.client_id in seen:
                errors.append(f"clients[{index}].client_id: duplicate client_id {client.client_id!r}")
            seen.add(client.client_id)
        return errors

    def _known_client_roles(self) -> list[str]:
        return [f"clients[{index}].roles: unknown role {role!r}"
                for index, client in enumerate(self.clients) for role in client.roles or []
                if role not in self.roles]

    def _offered_default_language(self) -> list[str]:
        if self.default_language and self.default_language not in self.languages:
            return ["default_language: must be one of languages"]
        return []

    def _secret_key_outside_demo(self) -> list[str]:
        if not self.demo and self.secret_key is None:
            return ["secret_key: required outside the demo (use ${IDP_SECRET_KEY})"]
        return []

    def _distinct_secret_keys(self) -> list[str]:
        # A fallback equal to the current secret (or to another fallback) is a leftover of an
        # edit gone wrong: the rotation it stands for would not be one. The values are never printed.
        errors = []
        seen = {self.secret_key} if self.secret_key else set()
        for index, fallback in enumerate(self.secret_key_fallbacks):
            if fallback == self.secret_key:
                errors.append(f"secret_key_fallbacks[{index}]: the same as secret_key (put the previous secret here)")
            elif fallback in seen:
                errors.append(f"secret_key_fallbacks[{index}]: listed twice")
            seen.add(fallback)
        return errors

    def _consent_flow_for_consent(self) -> list[str]:
        # Without the consent step nobody would be asked: the client would get everything unasked.
        if "consent" in self.flows:
            return []
        return [f"clients[{index}].require_consent: needs the consent flow in flows"
                for index, client in enumerate(self.clients) if client.require_consent]

    def _known_mfa_selectors(self) -> list[str]:
        # The company selectors are checked against the directory by `idp check-config` (idp.cli).
        errors = [f"mfa.required_for[{index}]: unknown role {role!r}"
                  for index, role in self.mfa.selectors("role") if role not in self.roles]
        client_ids = {client.client_id for client in self.clients}
        errors += [f"mfa.required_for[{index}]: unknown client {client_id!r}"
                   for index, client_id in self.mfa.selectors("client") if client_id not in client_ids]
        if self.mfa.required_for and "mfa" not in self.flows:
            # Without the step nobody could prove a factor: the policy would refuse every sign-in it covers.
            errors.append("mfa.required_for: needs the mfa flow in flows")
        return errors

    def _api_keys_flow_for_self_service(self) -> list[str]:
        # The members' own page is the api_keys flow's: without it, self_service would offer nothing.
        if self.api_keys.self_service and "api_keys" not in self.flows:
            return ["api_keys.self_service: needs the api_keys flow in flows"]
        return []

    def _token_exchange_clients(self) -> list[str]:
        # An API key is the credential of its exchange: a client without a secret exchanges keys
        # for whoever holds one, which is a choice to write down (token_endpoint_auth_method: none).
        return [f"clients[{index}].grant_types: {TOKEN_EXCHANGE} needs a secret, or token_endpoint_auth_method: "
                "none for a public client" for index, client in enumerate(self.clients)
                if TOKEN_EXCHANGE in client.grant_types and client.secret is None
                and client.token_endpoint_auth_method != "none"]  # noqa: S105 - a method name

    @property
    def locale_default(self) -> str:
        return self.default_language or self.languages[0]

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def client(self, client_id: str) -> ClientConfig | None:
        for client in self.clients:
            if client.client_id == client_id:
                return client
        return None


def _substitute(node: Any, path: str, env: dict[str, str], errors: list[str]) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, _join(path, key), env, errors) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, f"{path}[{i}]", env, errors) for i, value in enumerate(node)]
    if isinstance(node, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                errors.append(f"{path}: environment variable {name} is not set")
                return ""
            return env[name]

        return _ENV_REF.sub(replace, node)
    return node


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = _join(out, "from" if part == "from_" else part)
    return out


def _clean_location(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Skip pydantic's internal tags (e.g. union or function-after markers).
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))


def _lines(loc: tuple[Any, ...], message: str) -> list[str]:
    where = _format_location(loc)
    lines = []
    for piece in message.split("\n"):
        # A model-level check may already name its own key path ("clients[1].roles: …").
        if re.match(r"^[\w\[\].]+: ", piece):
            lines.append(f"{where + '.' if where else ''}{piece}")
        else:
            lines.append(f"{where or '(top level)'}: {piece}")
    return lines


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.extend(_lines(_clean_location(err["loc"]), message.removeprefix("Value error, ")))
    return lines


def _partial(annotation: Any, data: Any, errors: list[tuple[Any, ...]], loc: tuple[Any, ...],
             late: list[str]) -> Any:
    """`data` read as `annotation` as far as it is valid, INVALID where it is not.

    Pydantic runs a model's own checks (its `mode="after"` validators: duplicate client ids, a
    secret_key outside the demo...) only once every field below it is valid, so a single bad field
    would hide them. The models with errors below them are rebuilt here from their valid parts
    (model_construct, INVALID for each bad one) and their checks run on that, adding what they
    find to `late`. `errors` are the locations of pydantic's errors, relative to `data`. Valid
    parts are read without their field validators (which only normalise: an issuer's last slash).
    """
    if not errors:
        try:
            return TypeAdapter(annotation).validate_python(data)
        except ValidationError:  # not expected: pydantic found nothing wrong here
            return INVALID
    if () in errors:
        return INVALID
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _partial(args[0], data, errors, loc, late)
    if origin in (typing.Union, types.UnionType):
        models = [arg for arg in args if isinstance(arg, type) and issubclass(arg, BaseModel)]
        return _partial(models[0], data, errors, loc, late) if len(models) == 1 else INVALID
    if origin is list and isinstance(data, list):
        return [_partial(args[0], item, _below(errors, index), (*loc, index), late) for index, item in enumerate(data)]
    if origin is dict and isinstance(data, dict):
        return {key: _partial(args[1], value, _below(errors, key), (*loc, key), late) for key, value in data.items()}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(data, dict):
        return _partial_model(annotation, data, errors, loc, late)
    return INVALID


def _below(errors: list[tuple[Any, ...]], *keys: Any) -> list[tuple[Any, ...]]:
    return [error[1:] for error in errors if error and error[0] in keys]


def _partial_model(model: type[BaseModel], data: dict[str, Any], errors: list[tuple[Any, ...]],
                   loc: tuple[Any, ...], late: list[str]) -> Any:
    values = {}
    for name, field in model.model_fields.items():
        keys = [key for key in (field.alias, name) if key is not None]
        given = next((key for key in keys if key in data), None)
        if given is None:
            if field.is_required():
                values[name] = INVALID
            continue
        below = _below(errors, *keys)
        annotation = field.annotation
        if field.metadata and not below:
            annotation = Annotated[(annotation, *field.metadata)]
        values[name] = _partial(annotation, data[given], below, (*loc, given), late)
    instance = model.model_construct(**values)
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        check = getattr(model, decorator.cls_var_name)
        try:
            check(instance, None) if len(inspect.signature(check).parameters) > 1 else check(instance)
        except (ValueError, AssertionError) as exc:
            late.extend(_lines(loc, str(exc)))
        except (_Undecidable, TypeError, AttributeError):
            continue  # it read an INVALID part in some way: it cannot decide
    return instance


def parse_config(data: Any, env: dict[str, str] | None = None) -> IdpConfig:
    """Validate a parsed YAML document; raise ConfigError listing every problem at once."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of keys"])
    errors: list[str] = []
    data = _substitute(data, "", dict(os.environ) if env is None else env, errors)
    try:
        config = IdpConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(_format_errors(exc))
        late: list[str] = []
        partial = _partial(IdpConfig, data, [_clean_location(err["loc"]) for err in exc.errors()], (), late)
        raise ConfigError(errors + [line for line in late if line not in errors], partial) from None
    if errors:
        raise ConfigError(errors, config)
    return config


def load_config(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> IdpConfig:
    """Read and validate a configuration file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    return parse_config(data, env)
