"""The store contract, run on every backend: memory always, Redis when IDP_TEST_REDIS_URL is set."""

import os
import threading
import time
import uuid

import pytest

from idp.store import MemoryStore, RedisStore, StoreUnavailableError

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")
KINDS = ["memory"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=KINDS)
def store(request):
    if request.param == "memory":
        yield MemoryStore(prefix="p:")
        return
    prefix = f"unit{uuid.uuid4().hex[:8]}:"
    yield RedisStore(REDIS_URL, prefix)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


def test_put_get_delete(store):
    store.put("k", "v", 10)
    assert store.get("k") == "v"
    store.delete("k")
    assert store.get("k") is None


def test_values_expire(store):
    store.put("k", "v", 0.05)
    time.sleep(0.1)
    assert store.get("k") is None


def test_take_is_single_use(store):
    store.put("code:1", "payload", 10)
    assert store.take("code:1") == "payload"
    assert store.take("code:1") is None


def test_take_under_contention_gives_one_winner(store):
    store.put("code:race", "payload", 10)
    results = []
    barrier = threading.Barrier(8)

    def redeem():
        barrier.wait()
        results.append(store.take("code:race"))

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results.count("payload") == 1


def test_add_only_when_absent(store):
    assert store.add("lock", "a", 10)
    assert not store.add("lock", "b", 10)
    assert store.get("lock") == "a"


def test_incr_counts_within_a_window(store):
    assert [store.incr("n", 10) for _ in range(3)] == [1, 2, 3]
    store.put("m", "5", 0.05)
    time.sleep(0.1)
    assert store.incr("m", 10) == 1


def test_unreachable_redis_raises_store_unavailable():
    from tests.smtp import free_port

    down = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailableError):
        down.get("k")
    with pytest.raises(StoreUnavailableError):
        down.incr("k", 10)
