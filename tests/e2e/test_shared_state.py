"""Serving processes share nothing but PostgreSQL and Redis; Redis outages answer 503 and heal."""

import re
import shutil
import subprocess
import time

import pytest
import requests

from tests.factories import PASSWORD
from tests.smtp import free_port


def sign_in(session: requests.Session, url: str, login: str, password: str) -> requests.Response:
    page = session.get(url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return session.post(url + "/login", data={"csrf_token": token, "login": login, "password": password},
                        allow_redirects=False, timeout=10)


def create_user(server, email="dana@example.com"):
    result = server.idp("users", "create", "--email", email, "--password-stdin", input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr


def test_a_session_opened_on_one_process_is_valid_on_another(backend, live_server_factory, request):
    # Processes share sessions through Redis: the backend's (IDP_TEST_REDIS_URL), else one of the test's own.
    redis_url = backend.redis_url or f"redis://127.0.0.1:{request.getfixturevalue('own_redis').port}/0"
    first = live_server_factory(workers=2, redis_url=redis_url)
    second = live_server_factory(share=first)
    create_user(first)
    browser = requests.Session()
    assert sign_in(browser, first.url, "dana@example.com", PASSWORD).status_code == 302
    cookie = browser.cookies.get("idp_session")
    other = requests.Session()
    other.cookies.set("idp_session", cookie, domain="127.0.0.1")
    home = other.get(second.url + "/", allow_redirects=False, timeout=10)
    assert home.status_code == 200 and "dana@example.com" in home.text
    # Signing out on the second ends the session on the first too.
    confirm = other.get(second.url + "/logout", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', confirm.text).group(1)
    other.post(second.url + "/logout", data={"csrf_token": token}, timeout=10)
    assert browser.get(first.url + "/", allow_redirects=False, timeout=10).status_code == 302


class OwnRedis:
    """A private redis-server on a free loopback port, that a test can stop and start again."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True,
                              check=False).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (`make test` installs it): "
                    "apt-get update && apt-get install -y redis-server")
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def test_redis_outage_answers_503_and_recovers(live_server_factory, own_redis):
    server = live_server_factory(redis_url=f"redis://127.0.0.1:{own_redis.port}/0")
    create_user(server)
    browser = requests.Session()
    assert sign_in(browser, server.url, "dana@example.com", PASSWORD).status_code == 302

    own_redis.stop()
    home = browser.get(server.url + "/", allow_redirects=False, timeout=10)
    assert home.status_code == 503 and "temporarily unavailable" in home.text
    assert home.headers["Retry-After"] == "5"
    assert requests.get(server.url + "/readyz", timeout=10).status_code == 503
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    # Sign-in, throttled through Redis, does not fail open.
    attempt = requests.post(server.url + "/login", data={"login": "dana@example.com", "password": PASSWORD},
                            allow_redirects=False, timeout=10)
    assert attempt.status_code == 503

    own_redis.start()  # an empty Redis: sessions are gone, the service is back
    deadline = time.monotonic() + 15
    while requests.get(server.url + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "did not recover"
        time.sleep(0.2)
    again = requests.Session()
    assert sign_in(again, server.url, "dana@example.com", PASSWORD).status_code == 302
    assert again.get(server.url + "/", allow_redirects=False, timeout=10).status_code == 200
