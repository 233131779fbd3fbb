"""Redis Sentinel: the provider follows a failover of its Redis primary without a restart.

Debian's redis-server (a primary and its replica) and two redis-sentinel on loopback ports of the
test's own; two provider processes on `redis+sentinel://`. The primary is killed under signed-in
sessions: they survive (replicated before), the store and the rate limits follow the new primary.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.cluster_support import OwnPostgres, RedisProcess, node_config, sign_in, start_node, wait_until
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sentinel_set(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sentinel")
    primary = RedisProcess(directory)
    primary.start()
    replica = RedisProcess(directory, replica_of=primary.port)
    replica.start()
    sentinels = [RedisProcess(directory, sentinel_of=primary.port) for _ in range(2)]
    for sentinel in sentinels:
        sentinel.start()
    wait_until(lambda: "master_link_status:up" in replica.cli("info", "replication"), 15, "replication")
    yield primary, replica, sentinels
    for process in (*sentinels, replica, primary):
        process.stop()


def test_sessions_codes_and_throttles_follow_a_failover(sentinel_set, tmp_path_factory):
    primary, replica, sentinels = sentinel_set
    directory = tmp_path_factory.mktemp("nodes")
    postgres = OwnPostgres()
    postgres.start()
    hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in sentinels)
    config = node_config(directory, database_url=postgres.url, redis_url=f"redis+sentinel://{hosts}/mymaster/0",
                         issuer="http://127.0.0.1:5000")
    first = start_node(config, directory, workers=2)
    second = start_node(config, directory)
    try:
        assert first.idp("users", "create", "--email", "dana@example.com", "--password-stdin",
                         input=PASSWORD + "\n").returncode == 0
        browsers = []
        for _ in range(3):
            browser = requests.Session()
            assert sign_in(browser, first.url, "dana@example.com", PASSWORD).status_code == 302
            browsers.append(browser)
        # A wrong password goes through the throttles (Flask-Limiter's storage on the same Sentinel set).
        stranger = requests.Session()
        assert sign_in(stranger, second.url, "dana@example.com", "wrong").status_code == 401
        # Replicated before the primary goes: what a failover loses is only what was not.
        assert primary.cli("wait", "1", "2000") == "1"

        primary.kill()
        started = time.monotonic()
        during = [requests.get(second.url + "/", timeout=10, allow_redirects=False, cookies=browsers[0].cookies)
                  .status_code]

        def served_again():
            status = browsers[0].get(second.url + "/", timeout=10, allow_redirects=False).status_code
            during.append(status)
            return status == 200

        wait_until(served_again, 30, "a signed-in page after the failover", interval=0.25)
        failover_seconds = time.monotonic() - started
        # Meanwhile: a 503, never a 500 nor a signed-out page.
        assert set(during) <= {200, 503}, during
        promoted = sentinels[0].cli("sentinel", "get-master-addr-by-name", "mymaster").split()
        assert promoted == ["127.0.0.1", str(replica.port)]
        for browser in browsers:  # every session survived, on both processes
            for node in (first, second):
                home = browser.get(node.url + "/", allow_redirects=False, timeout=10)
                assert home.status_code == 200 and "dana@example.com" in home.text
        # New state is written to the new primary: a new sign-in, and its session on the other node.
        fresh = requests.Session()
        assert sign_in(fresh, second.url, "dana@example.com", PASSWORD).status_code == 302
        assert fresh.get(first.url + "/", allow_redirects=False, timeout=10).status_code == 200
        assert sign_in(requests.Session(), first.url, "dana@example.com", "wrong").status_code == 401
        assert replica.cli("dbsize") != "0"
        assert failover_seconds < 30
    finally:
        first.stop()
        second.stop()
        postgres.close()
