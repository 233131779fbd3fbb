"""The static configuration: one YAML file validated by pydantic, secrets pulled from ${ENV}.

Every key is a contract (see config/demo.yaml, the commented reference). Unknown keys are
errors so that a typo is caught at start rather than silently ignored. This module imports
nothing from the rest of the package, so `idp check-config` works without an application.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

KNOWN_PASSWORD_CLASSES = ("upper", "lower", "digit", "special")


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one "key.path: message" line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


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
    cookie_name: str = "idp_session"


class ThrottlingConfig(_Model):
    """Limits in Flask-Limiter's notation; only failed sign-ins count against them."""

    login_per_account: str = "10 per 15 minutes"
    login_per_ip: str = "50 per 15 minutes"
    # Every request counts for these (they send mail): per address as typed (hashed) and per IP.
    forgot_password_per_account: str = "5 per hour"  # noqa: S105 - a rate, not a password
    forgot_password_per_ip: str = "30 per hour"  # noqa: S105 - a rate, not a password
    confirm_resend_per_account: str = "5 per hour"
    confirm_resend_per_ip: str = "30 per hour"
    register_per_ip: str = "20 per hour"
    # Wrong company identifiers or member codes (the code is a guessable secret): per user and per IP.
    company_join_per_user: str = "10 per hour"
    company_join_per_ip: str = "30 per hour"
    account_request_per_ip: str = "10 per hour"  # every request counts: each one is work for an operator


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


class MfaConfig(_Model):
    required_for: list[str] = []


def _is_loopback_host(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def check_redirect_uri(uri: str) -> str:
    """Accept https URLs, loopback http URLs and private-use schemes (RFC 8252 section 7)."""
    parts = urlsplit(uri)
    if parts.fragment:
        raise ValueError("must not contain a fragment")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and _is_loopback_host(parts.hostname):
        return uri
    # RFC 8252 7.1: a private-use scheme is a reverse domain name, so it contains a dot.
    if parts.scheme and "." in parts.scheme and parts.scheme not in ("http", "https"):
        return uri
    raise ValueError("must be an absolute https URL, a loopback URL or a private-use scheme URI")


RedirectUri = Annotated[str, Field(min_length=1)]

GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]


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

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _check_uris(cls, value: list[str]) -> list[str]:
        for uri in value:
            check_redirect_uri(uri)
        return value

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
    roles: dict[str, LocalizedText] = DEFAULT_ROLES
    companies: CompaniesConfig = CompaniesConfig()
    flows: list[str] = ["login"]
    mfa: MfaConfig = MfaConfig()
    invitations: InvitationsConfig = InvitationsConfig()
    clients: list[ClientConfig] = []
    max_content_length: int = Field(1024 * 1024, ge=16 * 1024)

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
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("languages")
    @classmethod
    def _some_language(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one language")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> IdpConfig:
        errors = []
        seen: set[str] = set()
        for index, client in enumerate(self.clients):
            if client.client_id in seen:
                errors.append(f"clients[{index}].client_id: duplicate client_id {client.client_id!r}")
            seen.add(client.client_id)
            for role in client.roles or []:
                if role not in self.roles:
                    errors.append(f"clients[{index}].roles: unknown role {role!r}")
        if self.default_language and self.default_language not in self.languages:
            errors.append("default_language: must be one of languages")
        if not self.demo and self.secret_key is None:
            errors.append("secret_key: required outside the demo (use ${IDP_SECRET_KEY})")
        if errors:
            raise ValueError("\n".join(errors))
        return self

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


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        # Skip pydantic's internal tags (e.g. union or function-after markers).
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        message = message.removeprefix("Value error, ")
        where = _format_location(loc)
        for piece in message.split("\n"):
            # A model-level check may already name its own key path ("clients[1].roles: …").
            if re.match(r"^[\w\[\].]+: ", piece):
                lines.append(f"{where + '.' if where else ''}{piece}")
            else:
                lines.append(f"{where or '(top level)'}: {piece}")
    return lines


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
        raise ConfigError(errors) from None
    if errors:
        raise ConfigError(errors)
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
