"""Two `idp serve` nodes behind HAProxy (Debian's, round robin) on one PostgreSQL and one Redis of
the module's own, as `make cluster` runs them: whatever node answers, the person and the portal
see one provider."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import psycopg
import pytest
import requests

from tests.e2e.cluster_support import (
    Haproxy,
    OwnPostgres,
    RedisProcess,
    node_config,
    sign_in,
    start_node,
    wait_until,
)
from tests.e2e.oidc_support import hidden_fields
from tests.factories import PASSWORD
from tests.smtp import SmtpSink, free_port

pytestmark = pytest.mark.e2e

SECRET = "web-secret-0123456789abcdef"
REDIRECT = "http://127.0.0.1:9/cb"
EMAILS = 30


class Cluster:
    def __init__(self, directory):
        self.nodes = []
        self.haproxy = self.redis = self.smtp = None
        self.postgres = OwnPostgres()
        try:
            self._start(directory)
        except BaseException:
            self.close()
            raise

    def _start(self, directory):
        self.postgres.start()
        self.redis = RedisProcess(directory)
        self.redis.start()
        self.smtp = SmtpSink()
        self.smtp.start()
        lb_port, ports = free_port(), [free_port(), free_port()]
        self.url = f"http://127.0.0.1:{lb_port}"
        self.config = node_config(
            directory, database_url=self.postgres.url, redis_url=f"redis://127.0.0.1:{self.redis.port}/0",
            issuer=self.url, trusted_proxies=["127.0.0.1/32"],
            throttling={"login_per_account": "3 per 10 minutes"},
            clients=[{"client_id": "web", "secret": SECRET, "redirect_uris": [REDIRECT],
                      "grant_types": ["authorization_code", "refresh_token"]}],
            mail={"backend": "smtp", "from": "Portail <no-reply@example.com>", "worker": True,
                  "retry_base_seconds": 1, "smtp": {"host": "127.0.0.1", "port": self.smtp.port, "starttls": False,
                                                    "timeout": 5}})
        self.nodes = [start_node(self.config, directory, port=port) for port in ports]
        self.haproxy = Haproxy(directory, ports, port=lb_port)
        self.haproxy.start()
        for email in ("dana@example.com", "eve@example.com"):
            result = self.nodes[0].idp("users", "create", "--email", email, "--password-stdin", input=PASSWORD + "\n")
            assert result.returncode == 0, result.stderr

    def sql(self, query, *args, fetch=True):
        with psycopg.connect(f"host=127.0.0.1 port={self.postgres.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            cursor = connection.execute(query, args)
            return cursor.fetchall() if fetch else None

    def close(self):
        for part in (self.haproxy, *self.nodes, self.smtp, self.redis):
            if part is not None:
                part.stop()
        self.postgres.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    created = Cluster(tmp_path_factory.mktemp("cluster"))
    yield created
    created.close()


def requests_per_node(cluster, endpoint):
    counts = []
    for node in cluster.nodes:
        text = requests.get(node.url + "/metrics", timeout=10).text
        counts.append(sum(float(line.split()[-1]) for line in text.splitlines()
                          if line.startswith("idp_request_duration_seconds_count")
                          and f'endpoint="{endpoint}"' in line))
    return counts


def test_a_sign_in_through_the_balancer_alternates_nodes(cluster):
    before = requests_per_node(cluster, "login.login")
    browser = requests.Session()
    # The page from one node, the form's POST (its CSRF token in the session in Redis) to the other.
    assert sign_in(browser, cluster.url, "dana@example.com", PASSWORD).status_code == 302
    for _ in range(4):
        home = browser.get(cluster.url + "/", allow_redirects=False, timeout=10)
        assert home.status_code == 200 and "dana@example.com" in home.text
    after = requests_per_node(cluster, "login.login")
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_from(cluster, node):
    """Sign in at /authorize on `node` only (the issuer's address in redirects is turned into the node's)."""
    verifier, challenge = pkce()
    session = requests.Session()
    params = {"response_type": "code", "client_id": "web", "redirect_uri": REDIRECT, "state": "s",
              "scope": "openid offline_access", "code_challenge": challenge, "code_challenge_method": "S256"}
    url = f"{node.url}/authorize?{urlencode(params)}"
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and urlsplit(response.url).path == "/login":
            data = {**hidden_fields(response.text, "/login"), "login": "eve@example.com", "password": PASSWORD}
            response = session.post(node.url + "/login", data=data, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        location = urljoin(response.url, response.headers["Location"]).replace(cluster.url, node.url)
        if location.startswith(REDIRECT):
            return parse_qs(urlsplit(location).query)["code"][0], verifier
        url = location
    raise AssertionError("no code")


def token(node, **data):
    return requests.post(node.url + "/token", data=data, auth=("web", SECRET), timeout=10)


def test_a_code_from_one_node_is_redeemed_on_the_other_once(cluster):
    first, second = cluster.nodes
    code, verifier = code_from(cluster, first)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    granted = token(second, **exchange)
    assert granted.status_code == 200, granted.text
    assert "refresh_token" in granted.json()
    again = token(first, **exchange)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_refresh_token_raced_on_both_nodes_has_one_winner(cluster):
    code, verifier = code_from(cluster, cluster.nodes[0])
    refresh = token(cluster.nodes[1], grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                    code_verifier=verifier).json()["refresh_token"]
    answers = [None, None]
    start = threading.Barrier(2)

    def spend(index):
        start.wait(10)
        answers[index] = token(cluster.nodes[index], grant_type="refresh_token", refresh_token=refresh)

    threads = [threading.Thread(target=spend, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 400], [answer.text for answer in answers]
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    loser = next(answer for answer in answers if answer.status_code == 400).json()
    assert loser["error"] == "invalid_grant"
    # The second use was a reuse: the whole family is revoked, the winner's new token too.
    successor = token(cluster.nodes[0], grant_type="refresh_token", refresh_token=winner["refresh_token"])
    assert successor.status_code == 400 and successor.json()["error"] == "invalid_grant"


def test_sign_in_throttles_count_across_nodes(cluster):
    # Three wrong passwords through the balancer, so on both nodes; then the right one is refused on each.
    for _ in range(3):
        assert sign_in(requests.Session(), cluster.url, "dana@example.com", "wrong").status_code == 401
    for node in cluster.nodes:
        refused = sign_in(requests.Session(), node.url, "dana@example.com", PASSWORD)
        assert refused.status_code == 401
    cluster.redis.cli("flushdb")  # the counters' window is ten minutes: the module's other tests sign in


def test_each_queued_email_is_sent_once(cluster):
    before = len(cluster.smtp.messages)
    for number in range(EMAILS):
        cluster.sql("insert into outbox (kind, recipient, subject, body_text, body_html, message_id, status, attempts, "
                    "next_attempt_at, created_at) values ('test', %s, %s, 't', '<p>t</p>', %s, 'queued', 0, now(), "
                    "now())", f"p{number}@example.com", f"#{number}", f"<c{number}@example.com>", fetch=False)
    cluster.smtp.wait_for(before + EMAILS, timeout=30)  # both senders poll every 5 s
    time.sleep(1)
    subjects = sorted(str(message["Subject"]) for message in cluster.smtp.messages[before:])
    assert subjects == sorted(f"#{number}" for number in range(EMAILS))
    assert cluster.sql("select count(*) from outbox where status = 'sent' and attempts = 1 "
                       "and kind = 'test'")[0][0] == EMAILS


def test_keys_rotated_on_one_node_are_served_by_the_other(cluster):
    first, second = cluster.nodes
    old = {key["kid"] for key in requests.get(second.url + "/jwks", timeout=10).json()["keys"]}
    assert first.idp("keys", "rotate").returncode == 0
    # Each process reloads its keys within 30 s (idp.oidc.keys.RELOAD_SECONDS).
    new = wait_until(lambda: {key["kid"] for key in requests.get(second.url + "/jwks", timeout=10).json()["keys"]}
                     - old, 35, "the new keys at the other node", interval=1)
    wait_until(lambda: new <= {key["kid"] for key in requests.get(first.url + "/jwks", timeout=10).json()["keys"]},
               35, "the new keys at the first node", interval=1)
    assert old <= {key["kid"] for key in requests.get(second.url + "/jwks", timeout=10).json()["keys"]}
