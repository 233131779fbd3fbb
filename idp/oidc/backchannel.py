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


def _post(uri: str, token: str) -> str | None:
    """POST the token; None on success, else the error."""
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
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)[:500]


def deliver_due(limit: int = 20) -> int:
    """Deliver the logout tokens that are due; returns how many succeeded."""
    now = datetime.now(UTC)
    rows = db.session.execute(
        db.select(BackchannelDelivery)
        .where(BackchannelDelivery.delivered_at.is_(None), BackchannelDelivery.failed_at.is_(None),
               BackchannelDelivery.next_attempt_at <= now)
        .order_by(BackchannelDelivery.id).limit(limit)
    ).scalars().all()
    delivered = 0
    for row in rows:
        # Claim the row first (one UPDATE): with several serving processes only one posts it.
        claimed = db.session.execute(
            update(BackchannelDelivery)
            .where(BackchannelDelivery.id == row.id, BackchannelDelivery.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=datetime.now(UTC) + timedelta(seconds=CLAIM_SECONDS))
        ).rowcount
        db.session.commit()
        if claimed != 1:
            continue
        error = _post(row.uri, row.logout_token)
        row.attempts += 1
        if error is None:
            row.delivered_at = datetime.now(UTC)
            delivered += 1
        else:
            row.last_error = error
            if row.attempts >= MAX_ATTEMPTS:
                row.failed_at = datetime.now(UTC)
                log.warning("back-channel logout to %s given up: %s", row.client_id, error)
            else:
                delay = RETRY_BASE_SECONDS * 2 ** (row.attempts - 1)
                row.next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
        db.session.commit()
    return delivered


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
