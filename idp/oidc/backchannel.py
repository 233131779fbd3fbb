"""OpenID Connect Back-Channel Logout 1.0: logout tokens queued in SQL, posted with retries.

When an SSO session ends, every configured client with a backchannel_logout_uri gets a logout
token. The queue survives restarts; a daemon thread per serving process delivers it with
exponential backoff, and gives a row up after MAX_ATTEMPTS (kept, with its last error).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from idp.extensions import db
from idp.models import User
from idp.models.oidc import BackchannelDelivery
from idp.oidc import tokens
from idp.text import without_control_characters

log = logging.getLogger("idp.backchannel")

MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 5.0
TIMEOUT_SECONDS = 5.0
CLAIM_SECONDS = 60.0  # a row being posted is not retried by another process before this
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(client_id: str, sub: str | None, sid: str | None) -> str:
    """A logout token (Back-Channel Logout 1.0 section 2.4): never a nonce, always the event."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": current_app.config["IDP"].issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": tokens.new_id(),
        "events": {LOGOUT_EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    client = current_app.config["IDP"].client(client_id)
    alg = client.id_token_signed_response_alg if client is not None else "RS256"
    return tokens.sign(claims, alg, "logout+jwt")


def queue_logout(user: User | None, sid: str | None) -> int:
    """Queue a logout token for every client that asked for back-channel logout; returns how many."""
    if user is None:
        return 0
    count = 0
    for client in current_app.config["IDP"].clients:
        if client.backchannel_logout_uri:
            db.session.add(BackchannelDelivery(
                client_id=client.client_id, uri=client.backchannel_logout_uri,
                logout_token=logout_token(client.client_id, user.public_id, sid),
            ))
            count += 1
    return count


_start_lock = threading.Lock()


def ensure_sender(app: Flask) -> BackchannelSender | None:
    """This serving process's sender, started on first use (never under tests: they call deliver_due)."""
    if app.testing:
        return None
    sender = app.extensions.get("idp.backchannel_sender")
    if sender is None:
        with _start_lock:
            sender = app.extensions.get("idp.backchannel_sender")
            if sender is None:
                sender = BackchannelSender(app)
                app.extensions["idp.backchannel_sender"] = sender
                sender.start()
    return sender


def notify() -> None:
    """Wake the sender after a commit, so that logout tokens leave at once."""
    sender = ensure_sender(current_app._get_current_object())  # type: ignore[attr-defined]
    if sender is not None:
        sender.notify()


LAST_ERROR_MAX = 500


def _post(uri: str, token: str) -> str | None:
    """POST the token; None on success, else the relying party's answer ("HTTP 500").

    Raises whatever the exchange raised (network errors, a malformed answer): the caller records any of it.
    """
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    req = urllib.request.Request(uri, data=body, method="POST",  # noqa: S310 - a configured http(s) URL
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"


def _attempt(uri: str, token: str) -> tuple[str | None, Exception | None]:
    """One delivery: (None, None) on success, else the error as recorded on the row, and the
    exception when it was not an expected network failure (logged with its traceback)."""
    # Any failure counts, not only the network's: a relying party answering a malformed status
    # line raises http.client's errors, which escaped the pass, so the row was claimed again and
    # again, never counted, never given up, never recorded (as the mail outbox does).
    try:
        return _post(uri, token), None
    except Exception as exc:  # noqa: BLE001
        # On one line: it goes to the log and to the row (an answer may carry any bytes).
        error = without_control_characters(f"{type(exc).__name__}: {exc}")[:LAST_ERROR_MAX]
        return error, None if isinstance(exc, (urllib.error.URLError, OSError)) else exc


def _due(now: datetime) -> tuple[Any, ...]:
    return (BackchannelDelivery.delivered_at.is_(None), BackchannelDelivery.failed_at.is_(None),
            BackchannelDelivery.next_attempt_at <= now)


def claim_next() -> BackchannelDelivery | None:
    """Claim the next due logout token (one statement, committed): its next attempt moves CLAIM_SECONDS
    ahead, so no other sender posts it meanwhile. FOR UPDATE SKIP LOCKED on PostgreSQL: senders of
    several nodes never wait for each other nor take the same row."""
    now = datetime.now(UTC)
    candidate = (db.select(BackchannelDelivery.id).where(*_due(now)).order_by(BackchannelDelivery.id).limit(1)
                 .with_for_update(skip_locked=True).scalar_subquery())
    claimed = db.session.execute(
        update(BackchannelDelivery).where(BackchannelDelivery.id == candidate, *_due(now))
        .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)).returning(BackchannelDelivery.id)
    ).scalar_one_or_none()
    db.session.commit()
    return None if claimed is None else db.session.get(BackchannelDelivery, claimed)


def deliver_due(limit: int = 20) -> int:
    """Deliver the logout tokens that are due, at most `limit`; returns how many succeeded."""
    delivered = 0
    for _ in range(limit):
        row = claim_next()
        if row is None:
            break
        error, unexpected = _attempt(row.uri, row.logout_token)
        row.attempts += 1
        if error is None:
            row.delivered_at = datetime.now(UTC)
            delivered += 1
        else:
            row.last_error = error
            if row.attempts >= MAX_ATTEMPTS:
                row.failed_at = datetime.now(UTC)
                log.error("back-channel logout #%s to %s given up after %s attempts: %s", row.id, row.client_id,
                          row.attempts, error, exc_info=unexpected)
            else:
                delay = retry_delay(row.attempts)
                row.next_attempt_at = datetime.now(UTC) + delay
                log.warning("back-channel logout #%s to %s failed (attempt %s), retry in %ss: %s", row.id,
                            row.client_id, row.attempts, int(delay.total_seconds()), error, exc_info=unexpected)
        db.session.commit()
    return delivered


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed delivery: doubling from RETRY_BASE_SECONDS."""
    return timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (attempts - 1))


def pending() -> bool:
    return db.session.execute(
        db.select(BackchannelDelivery.id).where(BackchannelDelivery.delivered_at.is_(None),
                                                BackchannelDelivery.failed_at.is_(None)).limit(1)
    ).first() is not None


class BackchannelSender:
    """A daemon thread, started at the first logout in a process, that delivers the queue."""

    POLL_SECONDS = 5.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="idp-backchannel", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.POLL_SECONDS)
            self._wake.clear()
            try:
                with self.app.app_context():
                    deliver_due()
                    db.session.remove()
            except Exception:
                log.exception("back-channel logout pass failed")
