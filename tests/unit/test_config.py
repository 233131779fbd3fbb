"""The configuration schema: every mistake reported at once, with its key path."""

from pathlib import Path

import pytest

from idp.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {"IDP_SECRET_KEY": "k" * 40, "IDP_DB_PASSWORD": "p", "SMTP_PASSWORD": "s",
                  "SHOP_WEB_SECRET": "w" * 24, "ERP_SYNC_SECRET": "e" * 24}


def minimal(**extra):
    return {"issuer": "https://login.example.com", "secret_key": "s" * 40, **extra}


def errors_of(document, env=None):
    with pytest.raises(ConfigError) as caught:
        parse_config(document, env or {})
    return caught.value.errors


def test_shipped_configurations_are_valid():
    demo = load_config(ROOT / "config" / "demo.yaml", env={})
    assert demo.demo and demo.redis_url is None and demo.mail.backend == "file"
    production = load_config(ROOT / "config" / "production.example.yaml", env=PRODUCTION_ENV)
    assert production.redis_url and production.mail.backend == "smtp"
    assert production.mail.smtp.password == "s"
    assert production.client("shop-mobile").is_public


def test_three_mistakes_give_three_errors_with_their_key_paths():
    document = minimal(
        mail={"backend": "smtp", "smtp": {"host": "mail", "port": 70000}},
        clients=[{"client_id": "shop", "secret": "x" * 20, "redirect_uris": ["http://shop.example.com/cb"]}],
        pasword_policy={"min_length": 8},
    )
    assert errors_of(document) == [
        "mail.smtp.port: Input should be less than or equal to 65535",
        "clients[0].redirect_uris[0]: must be an absolute https URL, a loopback URL or a private-use scheme URI",
        "pasword_policy: unknown key",
    ]


BAD_URI = "must be an absolute https URL, a loopback URL or a private-use scheme URI"
NO_SECRET = "secret_key: required outside the demo (use ${IDP_SECRET_KEY})"


def client(**extra):
    return {"client_id": "shop", "secret": "x" * 20, "redirect_uris": ["https://shop.example/cb"], **extra}


# Broken files and every error each must give, in order: pydantic's field errors first, then the
# checks across fields (which pydantic alone skips as soon as one field below them is wrong).
@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(minimal(clients=[client(redirect_uris=["https://shop.example/cb", "http://shop.example/cb"])]),
                     [f"clients[0].redirect_uris[1]: {BAD_URI}"], id="second-redirect-uri"),
        pytest.param(minimal(clients=[client(post_logout_redirect_uris=["https://a.example/", "https://a.example/#x"],
                                             redirect_uris=["ftp://a.example/cb", "https://a.example/cb"])]),
                     [f"clients[0].redirect_uris[0]: {BAD_URI}",
                      "clients[0].post_logout_redirect_uris[1]: must not contain a fragment"], id="both-uri-lists"),
        pytest.param({"issuer": "https://login.example.com", "tokens": {"code_ttl_seconds": 1},
                      "password_policy": {"min_length": 2}, "colour": "blue"},
                     ["password_policy.min_length: Input should be greater than or equal to 6",
                      "tokens.code_ttl_seconds: Input should be greater than or equal to 10",
                      "colour: unknown key", NO_SECRET], id="three-field-errors-and-no-secret-key"),
        pytest.param({"issuer": "https://login.example.com", "languages": ["fr"], "default_language": "en",
                      "clients": [client(redirect_uris=["http://shop.example/cb"]),
                                  client(roles=["boss"])]},
                     [f"clients[0].redirect_uris[0]: {BAD_URI}", "clients[1].client_id: duplicate client_id 'shop'",
                      "clients[1].roles: unknown role 'boss'", "default_language: must be one of languages",
                      NO_SECRET], id="every-cross-check-behind-a-field-error"),
        pytest.param(minimal(clients=[client(client_id="a b", secret=None, grant_types=["client_credentials"]),
                                      client(launch_url="shop")]),
                     ["clients[0].client_id: String should match pattern '^[A-Za-z0-9._~-]+$'",
                      "clients[1].launch_url: must be an absolute http(s) URL",
                      "clients[0]: client_credentials needs a secret (a confidential client)"],
                     id="a-client-check-behind-a-client-field-error"),
        pytest.param(minimal(mail={"backend": "smtp", "smtp": {"port": 0, "starttls": True, "ssl": True}},
                             session={"lifetime_hours": 0}),
                     ["mail.smtp.port: Input should be greater than or equal to 1",
                      "session.lifetime_hours: Input should be greater than 0",
                      "mail.smtp: choose either starttls or ssl, not both"], id="nested-check-behind-a-nested-error"),
        pytest.param({"issuer": "https://login.example.com", "secret_key": "short", "tokens": {"code_ttl_seconds": 1}},
                     ["secret_key: String should have at least 32 characters",
                      "tokens.code_ttl_seconds: Input should be greater than or equal to 10"],
                     id="a-wrong-secret-key-is-not-also-missing"),
        pytest.param({"issuer": "https://login.example.com", "languages": "fr", "default_language": "en",
                      "clients": ["shop"]},
                     ["languages: Input should be a valid list",
                      "clients[0]: Input should be a valid dictionary or instance of ClientConfig", NO_SECRET],
                     id="checks-reading-a-wrong-value-stay-quiet"),
    ],
)
def test_every_error_at_once_at_its_full_key_path(document, expected):
    assert errors_of(document) == expected


def test_what_could_be_read_comes_with_the_errors():
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(flows=["login", "teleport"], tokens={"code_ttl_seconds": 1}), {})
    assert caught.value.config.flows == ["login", "teleport"]
    assert caught.value.config.issuer == "https://login.example.com"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"secret_key": "s" * 40}, "issuer: Field required", id="no-issuer"),
        pytest.param(minimal(issuer="http://login.example.com"),
                     "issuer: must be an https URL (http only on a loopback address)", id="http-issuer"),
        pytest.param(minimal(issuer="https://login.example.com/?x=1"),
                     "issuer: must not contain a query or fragment (OpenID Connect Discovery 1.0, section 3)",
                     id="issuer-query"),
        pytest.param({"issuer": "https://login.example.com"},
                     "secret_key: required outside the demo (use ${IDP_SECRET_KEY})", id="no-secret-outside-demo"),
        pytest.param(minimal(database_url="mysql://x"),
                     "database_url: must be a sqlite:/// or postgresql+psycopg:// URL", id="unknown-database"),
        pytest.param(minimal(password_hashing={"memory_cost_kib": 1024}),
                     "password_hashing.memory_cost_kib: Input should be greater than or equal to 19456",
                     id="argon2-below-owasp"),
        pytest.param(minimal(password_policy={"require": ["emoji"]}),
                     "password_policy.require: unknown character class 'emoji'; use upper, lower, digit, special",
                     id="unknown-character-class"),
        pytest.param(minimal(clients=[{"client_id": "a", "redirect_uris": ["https://a.example/cb#x"]}]),
                     "clients[0].redirect_uris[0]: must not contain a fragment", id="fragment-in-redirect"),
        pytest.param(minimal(clients=[{"client_id": "a", "grant_types": ["client_credentials"]}]),
                     "clients[0]: client_credentials needs a secret (a confidential client)",
                     id="public-client-credentials"),
        pytest.param(minimal(clients=[{"client_id": "a", "redirect_uris": ["https://a.example/cb"],
                                       "roles": ["boss"]}]),
                     "clients[0].roles: unknown role 'boss'", id="unknown-role"),
        pytest.param(minimal(clients=[{"client_id": "a", "redirect_uris": ["https://a.example/cb"]},
                                      {"client_id": "a", "redirect_uris": ["https://a.example/cb"]}]),
                     "clients[1].client_id: duplicate client_id 'a'", id="duplicate-client"),
        pytest.param(minimal(mail={"backend": "smtp"}), "mail: backend smtp needs an smtp section", id="smtp-missing"),
        pytest.param(minimal(secret_key="${MISSING_SECRET}"),
                     "secret_key: environment variable MISSING_SECRET is not set", id="missing-env"),
        pytest.param(["not", "a", "mapping"], "(top level): must be a mapping of keys", id="not-a-mapping"),
    ],
)
def test_bad_configuration(document, expected):
    assert expected in errors_of(document)


@pytest.mark.parametrize(
    "uri",
    ["https://shop.example.com/callback", "http://127.0.0.1/callback", "http://localhost:8080/cb",
     "http://[::1]/cb", "com.example.shop:/callback"],
)
def test_accepted_redirect_uris(uri):
    config = parse_config(minimal(clients=[{"client_id": "c", "redirect_uris": [uri]}]), {})
    assert config.clients[0].redirect_uris == [uri]


def test_environment_secrets_are_substituted():
    config = parse_config(minimal(secret_key="${KEY}", redis_url="redis://:${PW}@127.0.0.1:6379/0"),
                          {"KEY": "q" * 40, "PW": "secret"})
    assert config.secret_key == "q" * 40
    assert config.redis_url == "redis://:secret@127.0.0.1:6379/0"


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "absent.yaml")
    assert "cannot read" in missing.value.errors[0]
    broken = tmp_path / "broken.yaml"
    broken.write_text("issuer: [unclosed\n")
    with pytest.raises(ConfigError) as invalid:
        load_config(broken)
    assert "not valid YAML" in invalid.value.errors[0]
