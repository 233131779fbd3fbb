"""What operators watch on /metrics: Prometheus counters and histograms of the serving processes.

Under `idp serve` every granian worker is a process of its own; with PROMETHEUS_MULTIPROC_DIR set
(`idp serve` sets it before the workers start) each writes its values to files there and a scrape
of any worker adds them all up. Counts come from one place each: security events from
`idp.audit.record` (so the flows and the security package need no metrics code of their own),
tokens from the token endpoint, store and database errors from their clients, latency from a
WSGI layer around the application.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

SIGN_INS = Counter("idp_sign_ins_total", "People signed in (a password or a passkey accepted).")
SIGN_IN_FAILURES = Counter("idp_sign_in_failures_total", "Sign-ins refused, by reason.", ["reason"])
TOKENS = Counter("idp_tokens_issued_total", "Tokens issued at /token, by grant type.", ["grant"])
MFA = Counter("idp_mfa_events_total", "Second-factor events (verified, failed, enrolled, reset...).", ["event"])
API_KEYS = Counter("idp_api_key_events_total", "API-key events (issued, used, revoked...).", ["event"])
AUDIT = Counter("idp_audit_events_total", "Every security event recorded, by event.", ["event"])
STORE_ERRORS = Counter("idp_store_errors_total", "Store (Redis) operations that failed: the outage answers 503.")
DATABASE_ERRORS = Counter("idp_database_errors_total", "Database errors, by kind.", ["kind"])
PRUNED = Counter("idp_pruned_rows_total", "Rows removed by the pruning job, by table.", ["table"])
REQUESTS = Histogram(
    "idp_request_duration_seconds", "Time to answer a request, by endpoint and status class.",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Labels stay a fixed set: a value typed by a client (an unknown grant type) is "other".
GRANTS = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
}
_FAILURE_EVENTS = {
    "user.sign_in_failed": None,  # the reason is the event's own (bad_credentials)
    "user.sign_in_refused": None,  # disabled, email_unconfirmed...
    "user.locked_out": "locked_out",
    "user.mfa_failed": "mfa_failed",
    "user.mfa_locked_out": "mfa_locked_out",
    "user.passkey_failed": "passkey_failed",
}


def record_event(event: str, details: Mapping[str, Any]) -> None:
    """Count an audit event (called by `idp.audit.record` for every one)."""
    AUDIT.labels(event).inc()
    if event == "user.signed_in":
        SIGN_INS.inc()
    if event in _FAILURE_EVENTS and details.get("purpose") in (None, "sign_in"):
        reason = _FAILURE_EVENTS[event] or str(details.get("reason") or "unknown")
        SIGN_IN_FAILURES.labels(reason[:40]).inc()
    if event.startswith("mfa.") or event.startswith("user.mfa_") or event.startswith("user.passkey_"):
        MFA.labels(event).inc()
    if event.startswith("api_key."):
        API_KEYS.labels(event).inc()


def count_token(status: int, grant_type: str | None) -> None:
    """Count a token request that was granted."""
    if status == 200:
        TOKENS.labels(GRANTS.get(grant_type or "", "other")).inc()


def count_database_error(exception: BaseException, is_disconnect: bool) -> None:
    kind = "disconnect" if is_disconnect else type(exception).__name__
    DATABASE_ERRORS.labels(kind if kind in ("disconnect", "OperationalError", "IntegrityError") else "other").inc()


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestTimer:
    """WSGI middleware: the latency of every request, labelled by the Flask endpoint that answers it
    (a bounded set, unlike paths that carry tokens)."""

    CACHE_SIZE = 1024

    def __init__(self, wsgi_app: WSGIApp, url_map: Any) -> None:
        self.wsgi_app = wsgi_app
        self.adapter = url_map.bind("localhost")
        self.endpoints: dict[tuple[str, str], str] = {}

    def endpoint(self, method: str, path: str) -> str:
        key = (method, path)
        name = self.endpoints.get(key)
        if name is None:
            try:
                name = self.adapter.match(path, method=method)[0]
            except Exception:  # noqa: BLE001 - a 404, a 405, a redirect: none is an endpoint
                name = "none"
            if len(self.endpoints) >= self.CACHE_SIZE:
                self.endpoints.clear()
            self.endpoints[key] = name
        return name

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["5xx"]

        def recording_start_response(line: str, headers: Any, *args: Any) -> Any:
            status[0] = line[:1] + "xx"
            return start_response(line, headers, *args)

        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            endpoint = self.endpoint(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"))
            REQUESTS.labels(endpoint, status[0]).observe(time.perf_counter() - started)


def exposition(gauges: Mapping[str, tuple[str, float]]) -> bytes:
    """The text of /metrics: every process's counters (all workers' under PROMETHEUS_MULTIPROC_DIR)
    and `gauges` ({name: (help, value)}) measured for this scrape."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(_Gauges(gauges))
    return generate_latest(registry)


class _Forward:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()


class _Gauges:
    def __init__(self, gauges: Mapping[str, tuple[str, float]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterable[Any]:
        for name, (text, value) in self.gauges.items():
            yield GaugeMetricFamily(name, text, value=value)
