"""Short-lived state: one Store interface, backed by Redis or by this process's memory.

Sessions, authorization codes, interactions and counters live here. A value is taken with one
atomic operation (`take`), never a read then a delete, so two racing requests cannot both
redeem it. When Redis cannot be reached, every operation raises StoreUnavailableError, which
the application answers with 503: nothing that needs the store fails open.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from flask import current_app

from idp.config import SENTINEL_SCHEMES, parse_sentinel_url


class StoreUnavailableError(Exception):
    """The store cannot be reached; the request cannot be served safely."""


class Store(Protocol):
    def put(self, key: str, value: str, ttl: float) -> None: ...
    def add(self, key: str, value: str, ttl: float) -> bool: ...
    def get(self, key: str) -> str | None: ...
    def take(self, key: str) -> str | None: ...
    def delete(self, key: str) -> None: ...
    def incr(self, key: str, ttl: float) -> int: ...
    def ping(self) -> None: ...


class MemoryStore:
    """For one process: the demo and the tests. Expired keys are purged lazily."""

    def __init__(self, prefix: str = "") -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._prefix = prefix
        self._writes = 0

    def _live(self, key: str, now: float) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _purge(self, now: float) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[key]

    def put(self, key: str, value: str, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            self._data[self._prefix + key] = (value, now + ttl)

    def add(self, key: str, value: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._live(self._prefix + key, now) is not None:
                return False
            self._purge(now)
            self._data[self._prefix + key] = (value, now + ttl)
            return True

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(self._prefix + key, time.monotonic())

    def take(self, key: str) -> str | None:
        with self._lock:
            value = self._live(self._prefix + key, time.monotonic())
            self._data.pop(self._prefix + key, None)
            return value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(self._prefix + key, None)

    def incr(self, key: str, ttl: float) -> int:
        now = time.monotonic()
        with self._lock:
            current = self._live(self._prefix + key, now)
            if current is None:
                self._data[self._prefix + key] = ("1", now + ttl)
                return 1
            value = int(current) + 1
            self._data[self._prefix + key] = (str(value), self._data[self._prefix + key][1])
            return value

    def ping(self) -> None:
        return None


class RedisStore:
    """Shared by every serving process; the way the provider runs on more than one node."""

    def __init__(self, url: str, prefix: str = "") -> None:
        # Imported here: the embedded default never loads the client (6 MB per process).
        import redis

        # ReadOnlyError: a primary demoted by a failover answers writes with it until the client
        # has asked Sentinel again; it is an outage of this one request, not a bug.
        self._outage = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
        self._redis = redis_client(url)
        self._prefix = prefix

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._redis, method)(*args, **kwargs)
        except self._outage as exc:
            count_store_error()
            raise StoreUnavailableError(str(exc)) from exc

    def put(self, key: str, value: str, ttl: float) -> None:
        self._call("set", self._prefix + key, value, px=max(1, int(ttl * 1000)))

    def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._call("set", self._prefix + key, value, px=max(1, int(ttl * 1000)), nx=True))

    def get(self, key: str) -> str | None:
        return self._call("get", self._prefix + key)

    def take(self, key: str) -> str | None:
        # GETDEL is the single-use gate: one atomic command, so only one caller gets the value.
        return self._call("getdel", self._prefix + key)

    def delete(self, key: str) -> None:
        self._call("delete", self._prefix + key)

    def incr(self, key: str, ttl: float) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(self._prefix + key)
        pipe.pexpire(self._prefix + key, max(1, int(ttl * 1000)), nx=True)
        try:
            value, _ = pipe.execute()
        except self._outage as exc:
            count_store_error()
            raise StoreUnavailableError(str(exc)) from exc
        return int(value)

    def ping(self) -> None:
        self._call("ping")


# Short timeouts: an unreachable Redis must turn into a quick 503, not a hung worker.
TIMEOUTS = {"socket_timeout": 2, "socket_connect_timeout": 2}


def redis_client(url: str) -> Any:
    """A Redis client for `url`; for a `redis+sentinel://` set, one that asks Sentinel for the
    primary on every new connection, so that a failover is followed without a restart."""
    import redis

    if not url.startswith(SENTINEL_SCHEMES):
        return redis.Redis.from_url(url, health_check_interval=30, decode_responses=True, **TIMEOUTS)
    from redis.sentinel import Sentinel

    parsed = parse_sentinel_url(url)
    auth = {"username": parsed.username, "password": parsed.password}
    sentinel = Sentinel(parsed.hosts, sentinel_kwargs={**auth, **TIMEOUTS}, **TIMEOUTS)
    return sentinel.master_for(parsed.service, db=parsed.db, decode_responses=True, health_check_interval=30,
                               **auth)


def limiter_storage(url: str | None) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's storage URI and options for the store's Redis (or memory)."""
    if not url:
        return "memory://", {}
    if not url.startswith(SENTINEL_SCHEMES):
        return url, dict(TIMEOUTS)
    parsed = parse_sentinel_url(url)
    # The limits library reads the whole path as the service name: the database goes as an option.
    hosts = ",".join(f"{host}:{port}" for host, port in parsed.hosts)
    auth = {key: value for key, value in (("username", parsed.username), ("password", parsed.password)) if value}
    return f"redis+sentinel://{hosts}/{parsed.service}", {"db": parsed.db, "sentinel_kwargs": {**auth, **TIMEOUTS},
                                                           **auth, **TIMEOUTS}


def count_store_error() -> None:
    """Counted on /metrics (idp_store_errors_total), without loading the metrics for the memory store."""
    from idp import metrics

    metrics.STORE_ERRORS.inc()


def create_store(redis_url: str | None, prefix: str = "") -> Store:
    """The configured store: Redis when a URL is given, else this process's memory."""
    if redis_url:
        return RedisStore(redis_url, prefix)
    return MemoryStore(prefix)


def get_store() -> Store:
    """The application's store."""
    return current_app.extensions["idp.store"]


def put_json(key: str, value: Any, ttl: float) -> None:
    get_store().put(key, json.dumps(value, separators=(",", ":")), ttl)


def get_json(key: str) -> Any:
    raw = get_store().get(key)
    return None if raw is None else json.loads(raw)


def take_json(key: str) -> Any:
    raw = get_store().take(key)
    return None if raw is None else json.loads(raw)
