"""Live servers: `idp serve` processes on loopback, started from a configuration file, and Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Backend, base_config
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
IDP = str(Path(sys.executable).parent / "idp")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class LiveServer:
    """One `idp serve` process; `url` is its base address.

    It listens on 127.0.0.1 only; `host` is the name in its URL (and issuer): "localhost" where a
    browser needs a domain, as WebAuthn does for its RP ID (Chromium refuses an IP address).
    """

    def __init__(self, config_path: Path, port: int, log_path: Path, workers: int = 1,
                 host: str = "127.0.0.1") -> None:
        self.config_path = config_path
        self.port = port
        self.host = host
        self.url = f"http://{host}:{port}"
        self.log_path = log_path
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def idp(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run an `idp` command on this server's configuration."""
        return subprocess.run([IDP, "--config", str(self.config_path), *args], input=input, capture_output=True,
                              text=True, timeout=60, cwd=ROOT, check=False)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [IDP, "--config", str(self.config_path), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"idp serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                # The address it listens on: "localhost" may resolve to ::1 first.
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # still starting: a worker that is booting may accept and not answer yet
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"idp serve did not answer within 30 s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
def live_server_factory(backend: Backend, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start `idp serve` processes on the test's backend: factory(**config_overrides) -> LiveServer.

    Servers made by one call share the configuration (and so the database and store prefix) of
    that call; pass `share=server` to start another process on the same configuration.
    `host="localhost"` names the server (its URL and issuer) localhost instead of 127.0.0.1.
    """
    servers: list[LiveServer] = []

    def start(share: LiveServer | None = None, workers: int = 1, host: str = "127.0.0.1",
              **overrides: Any) -> LiveServer:
        port = free_port()
        if share is not None:
            config_path = share.config_path
            host = share.host
        else:
            document = base_config(backend, tmp_path, issuer=f"http://{host}:{port}", **overrides)
            if "mail" not in overrides:
                document["mail"] = {**document["mail"], "worker": True}  # the server's own sender
            config_path = write_config(tmp_path / f"idp-{port}.yaml", document)
            result = subprocess.run([IDP, "--config", str(config_path), "db", "upgrade"], capture_output=True,
                                    text=True, timeout=120, cwd=ROOT, check=False)
            assert result.returncode == 0, result.stderr
        server = LiveServer(config_path, port, tmp_path / f"server-{port}.log", workers=workers, host=host)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    _empty_live_tables(backend, tmp_path)


def _empty_live_tables(backend: Backend, tmp_path: Path) -> None:
    """Live servers wrote to the shared test database: leave it empty for the next test."""
    from tests.conftest import build_app, close_app

    close_app(build_app(backend, tmp_path / "cleanup"))


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """One server on the default test configuration."""
    return live_server_factory()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing (`make test` installs it): apt-get update && apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
