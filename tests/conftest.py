"""Fixtures: an application per test on each backend, a real SMTP server, a test client with helpers.

Every integration test runs on SQLite with the in-process store, and again on PostgreSQL with
Redis when IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL are set. Each pytest process gets its
own PostgreSQL database and its own Redis key prefix, so parallel runs never meet; tables are
emptied after each test.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.smtp import SmtpSink

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")
RUN_ID = uuid.uuid4().hex[:10]
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"

BACKENDS = ["sqlite+memory"] + (["postgresql+redis"] if PG_URL and REDIS_URL else [])


@dataclass
class Backend:
    """Where a test's data lives: a database URL, a Redis URL (or None), a key prefix."""

    name: str
    database_url: str
    redis_url: str | None
    migrated: bool = False
    prefixes: list[str] = field(default_factory=list)
    counter: int = 0

    def next_prefix(self) -> str:
        self.counter += 1
        prefix = f"t{RUN_ID}:{self.counter}:"
        self.prefixes.append(prefix)
        return prefix


def _create_pg_database(url: str) -> str:
    """A fresh database for this pytest process, beside the one named in the URL."""
    base = make_url(url)
    name = f"idp_test_{RUN_ID}_{os.getpid()}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str, test_url: str) -> None:
    name = make_url(test_url).database
    engine = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _forget_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])
    client.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "sqlite+memory":
        path = tmp_path_factory.mktemp("db") / "idp.sqlite3"
        yield Backend(request.param, f"sqlite:///{path}", None)
        return
    database_url = _create_pg_database(PG_URL)
    created = Backend(request.param, database_url, REDIS_URL)
    try:
        yield created
    finally:
        _drop_pg_database(PG_URL, database_url)
        _forget_redis_keys(REDIS_URL, f"t{RUN_ID}:")


def base_config(backend: Backend, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The configuration document of a test (before validation); overrides replace top-level keys."""
    document: dict[str, Any] = {
        "issuer": "http://127.0.0.1:5000",
        "secret_key": SECRET_KEY,
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "store_prefix": backend.next_prefix(),
        "instance_path": str(tmp_path / "instance"),
        "languages": ["fr", "en"],
        "default_language": "en",
        "mail": {"backend": "file", "from": "Portail <no-reply@example.com>", "worker": False},
        "flows": ["login"],
        "clients": [],
    }
    document.update(overrides)
    return document


def _empty_tables(app: Any) -> None:
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            # Only tables the migrations made; test_migrations compares them with the models.
            existing = set(inspect(connection).get_table_names())
            tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing]
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - names from the metadata


def build_app(backend: Backend, tmp_path: Path, **overrides: Any) -> Any:
    from idp import create_app
    from idp.config import parse_config
    from idp.models.migrate import upgrade

    config = parse_config(base_config(backend, tmp_path, **overrides))
    app = create_app(config, start_workers=False)
    app.config["TESTING"] = True
    if not backend.migrated:
        with app.app_context():
            upgrade()
        backend.migrated = True
    return app


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module (or with @pytest.mark.parametrize) to change the configuration."""
    return {}


def close_app(application: Any) -> None:
    """Leave the database empty for the next test and close the app's connections now (an
    unclosed one would be collected later, in another test, as a ResourceWarning)."""
    from idp.extensions import db

    _empty_tables(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(backend: Backend, tmp_path: Path, config_overrides: dict[str, Any]) -> Iterator[Any]:
    application = build_app(backend, tmp_path, **config_overrides)
    with application.app_context():
        yield application
    close_app(application)


@pytest.fixture
def make_app(backend: Backend, tmp_path: Path) -> Iterator[Any]:
    """Build further applications on the test's backend (other settings); closed at teardown."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        application = build_app(backend, tmp_path / f"app{len(made)}", **overrides)
        made.append(application)
        return application

    yield make
    for application in made:
        close_app(application)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def smtp_mail_config(sink: SmtpSink) -> dict[str, Any]:
    return {
        "backend": "smtp",
        "from": "Portail <no-reply@example.com>",
        "worker": False,
        "retry_base_seconds": 1,
        "smtp": {"host": "127.0.0.1", "port": sink.port, "starttls": False, "timeout": 5},
    }


CSRF_RE = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class Actions:
    """What a person does through the pages (STYLE: the actions helper of flaskr's tests)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get_form(self, path: str, **kwargs: Any) -> tuple[Any, str]:
        response = self.client.get(path, **kwargs)
        return response, csrf_from(response.get_data(as_text=True))

    def submit(self, path: str, data: dict[str, Any], form_path: str | None = None, **kwargs: Any) -> Any:
        """GET the form page (for its CSRF token), then POST `data` to `path`."""
        _, token = self.get_form(form_path or path)
        return self.client.post(path, data={"csrf_token": token, **data}, **kwargs)

    def login(self, login: str, password: str, **extra: Any) -> Any:
        return self.submit("/login", {"login": login, "password": password, **extra})

    def logout(self) -> Any:
        return self.submit("/logout", {}, form_path="/logout")


class IsolatedClient(FlaskClient):
    """Each request in a fresh app context, as in production: no `g` or SQL session shared
    with the test's own context (Flask would otherwise reuse the context the test pushed)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        context = self.application.app_context()
        context.push()
        try:
            return super().open(*args, **kwargs)
        finally:
            context.pop()


@pytest.fixture
def client(app: Any) -> Any:
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def actions(client: Any) -> Actions:
    return Actions(client)


def pytest_report_header(config: pytest.Config) -> str:
    where = ", ".join(BACKENDS)
    return f"idp backends: {where}" + ("" if len(BACKENDS) > 1 else
                                       " (set IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL for postgresql+redis)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests passed on each backend, so a log shows both ran."""
    counts = dict.fromkeys(BACKENDS, 0)
    for report in terminalreporter.stats.get("passed", []):
        if report.when != "call":
            continue
        for name in BACKENDS:
            if f"[{name}" in report.nodeid:
                counts[name] += 1
    terminalreporter.write_line("idp backends: " + ", ".join(f"{n} passed on {name}" for name, n in counts.items()))
