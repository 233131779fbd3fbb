"""An OpenID Connect identity provider for B2B portals."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from idp.config import IdpConfig


def _secret_key(config: IdpConfig, instance_path: str) -> str:
    """The configured key, or (demo only) one generated once and kept in the instance folder."""
    if config.secret_key:
        return config.secret_key
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _database_uri(url: str) -> str:
    # Flask-SQLAlchemy reads relative SQLite paths from the instance folder; the configuration
    # means them from the working directory, as every other path in it.
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + os.path.abspath(url[len(prefix):])
    return url


def create_app(config: IdpConfig, *, start_workers: bool = True) -> Flask:
    """Build the application for a validated configuration; wiring only."""
    from idp import mail
    from idp.accounts.passwords import Hasher
    from idp.admin import init_app as init_admin
    from idp.extensions import babel, csrf, db, drop_limiter_middleware, limiter
    from idp.flows import load_flows
    from idp.oidc import init_app as init_oidc
    from idp.pipeline import ordered_steps
    from idp.store import create_store, limiter_storage
    from idp.web import errors, forms, headers, health, home, i18n
    from idp.web import metrics as web_metrics
    from idp.web.routing import init_app as init_routing
    from idp.web.sessions import StoreSessionInterface, refuse_without_store

    instance_path = os.path.abspath(config.instance_path)
    app = Flask(__name__, instance_path=instance_path)
    init_routing(app)
    secure = config.secure_cookies
    secret_key = _secret_key(config, instance_path)
    fallbacks = list(config.secret_key_fallbacks)
    app.config.update(
        IDP=config,
        SECRET_KEY=secret_key,
        # Flask's own signed cookies read these during a rotation; the provider's sealed values
        # and recovery codes read them through idp.security.sealing.secret_keys.
        SECRET_KEY_FALLBACKS=fallbacks,
        # Flask-WTF signs CSRF tokens with itsdangerous, which takes a list whose last key signs
        # and whose every key verifies: a form opened before a rotation can still be sent.
        WTF_CSRF_SECRET_KEY=[*reversed(fallbacks), secret_key],
        SQLALCHEMY_DATABASE_URI=_database_uri(config.database_url),
        # A pooled PostgreSQL connection may have been closed by the server; a SQLite file cannot.
        SQLALCHEMY_ENGINE_OPTIONS={} if config.database_url.startswith("sqlite") else {"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=config.max_content_length,
        MAX_FORM_MEMORY_SIZE=config.max_content_length,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        # The CSRF token lives as long as the session it is kept in.
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=config.locale_default,
        BABEL_TRANSLATION_DIRECTORIES="translations",
        RATELIMIT_STORAGE_URI=limiter_storage(config.redis_url)[0],
        RATELIMIT_STORAGE_OPTIONS=limiter_storage(config.redis_url)[1],
        RATELIMIT_KEY_PREFIX=f"{config.store_prefix}limit",
        RATELIMIT_SWALLOW_ERRORS=False,
    )
    app.extensions["idp.hasher"] = Hasher.from_config(config.password_hashing)
    app.extensions["idp.store"] = create_store(config.redis_url, config.store_prefix)
    # The __Host- prefix pins the cookie to this host and path, and requires Secure.
    cookie_name = f"__Host-{config.session.cookie_name}" if secure else config.session.cookie_name
    app.session_interface = StoreSessionInterface(cookie_name, int(config.session.lifetime_hours * 3600),
                                                  int(config.session.anonymous_lifetime_minutes * 60))
    app.before_request(refuse_without_store)

    db.init_app(app)
    _sqlite_pragmas(app)
    _count_database_errors(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    # Flask-Limiter keeps the key prefix of the first application it was bound to; each
    # application (one per test, on a shared Redis) counts under its own store prefix.
    limiter._key_prefix = ""
    limiter.init_app(app)
    drop_limiter_middleware(app)

    errors.init_app(app)
    forms.init_app(app)
    headers.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(web_metrics.bp)
    app.register_blueprint(i18n.bp)
    app.register_blueprint(home.bp)
    if config.demo:
        from idp.web import devmail

        app.register_blueprint(devmail.bp)

    flows = load_flows(config.flows)
    for flow in flows:
        app.register_blueprint(flow.blueprint)
        if flow.init_app is not None:
            flow.init_app(app)
    app.extensions["idp.flows"] = {flow.name: flow for flow in flows}
    app.extensions["idp.steps"] = ordered_steps(flows)
    init_oidc(app)
    init_admin(app)

    app.extensions["idp.mail_backend"] = mail.create_backend(config, instance_path)
    if start_workers and config.mail.worker:
        sender = mail.MailSender(app)
        app.extensions["idp.mail_sender"] = sender
        sender.start()
    if start_workers:
        from idp.maintenance import Pruner

        app.extensions["idp.pruner"] = Pruner(app)
        app.extensions["idp.pruner"].start()

    app.jinja_env.globals.update(idp_config=config)
    app.context_processor(home.template_globals)
    from idp.metrics import RequestTimer

    app.wsgi_app = RequestTimer(app.wsgi_app, app.url_map)  # type: ignore[method-assign]
    # Last, so outermost: every layer under it (the token endpoint's early path included) and
    # every view sees the client's address as REMOTE_ADDR.
    from idp.security.networks import ClientAddress

    app.wsgi_app = ClientAddress(app.wsgi_app, config.trusted_proxies)  # type: ignore[method-assign]
    return app


def _sqlite_pragmas(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from idp.extensions import db

    with app.app_context():
        engine: Engine = db.engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets a second serving process read while one writes; busy_timeout waits for locks.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _count_database_errors(app: Flask) -> None:
    from sqlalchemy import event

    from idp.extensions import db
    from idp.metrics import count_database_error

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "handle_error")
    def _on_error(context) -> None:  # noqa: ANN001
        count_database_error(context.original_exception, context.is_disconnect)
