"""Back-channel logout to a relying party that answers garbage: every failure is recorded on its row,
retried with backoff and given up after MAX_ATTEMPTS (a raw loopback socket server, not our code)."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime

import pytest

from tests.integration.oidc.conftest import CLIENTS


class GarbageServer:
    """A loopback TCP server that reads a request and answers `reply` (then closes), whatever was asked."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/backchannel"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            with connection:
                connection.recv(65536)
                self.requests += 1
                connection.sendall(self.reply)

    def stop(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


ANSWERS = {
    "garbage-status": b"HTTP/1.1 abc\r\n\r\n",
    "closed-mid-status-line": b"HTTP/1.1 2",
    "header-line-too-long": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n",
}


@pytest.fixture(params=list(ANSWERS.values()), ids=list(ANSWERS))
def garbage(request):
    server = GarbageServer(request.param)
    yield server
    server.stop()


@pytest.fixture
def config_overrides(garbage):
    clients = [dict(c) for c in CLIENTS]
    clients[0]["backchannel_logout_uri"] = garbage.url
    return {"clients": clients, "flows": ["login", "consent"]}


def test_a_malformed_answer_is_recorded_retried_and_given_up(flow, user, app, garbage, caplog):
    from idp.extensions import db
    from idp.models import BackchannelDelivery
    from idp.oidc.backchannel import MAX_ATTEMPTS, deliver_due, pending

    code, _ = flow.code_for("ada")
    flow.exchange(code)
    assert flow.actions.logout().status_code == 200
    caplog.set_level(logging.WARNING, logger="idp.backchannel")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with app.app_context():
            before = datetime.now(UTC)
            assert deliver_due() == 0
            row = db.session.execute(db.select(BackchannelDelivery)).scalar_one()
            assert row.attempts == attempt and row.delivered_at is None
            assert row.last_error and "\r" not in row.last_error and "\n" not in row.last_error
            if attempt < MAX_ATTEMPTS:
                # Backoff: the next try waits longer each time (5 s, 10 s, 20 s...).
                assert (row.next_attempt_at - before).total_seconds() >= 5 * 2 ** (attempt - 1) - 1
                assert row.failed_at is None
                row.next_attempt_at = datetime.now(UTC)  # its time has come
            db.session.commit()
    with app.app_context():
        row = db.session.execute(db.select(BackchannelDelivery)).scalar_one()
        assert row.failed_at is not None and row.attempts == MAX_ATTEMPTS
        assert not pending()
        assert deliver_due() == 0  # given up: never tried again
    assert garbage.requests == MAX_ATTEMPTS
    failures = [r for r in caplog.records if r.name == "idp.backchannel"]
    assert [r.levelno for r in failures] == [logging.WARNING] * (MAX_ATTEMPTS - 1) + [logging.ERROR]
    assert "given up after 8 attempts" in failures[-1].getMessage()
