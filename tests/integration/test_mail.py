"""The outbox: queued in SQL, delivered by SMTP, retried through an outage, sent exactly once."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.mail import deliver_due, queue_email
from idp.models import OutboxMessage
from idp.models.base import utcnow
from tests.conftest import smtp_mail_config
from tests.smtp import SmtpSink, free_port


def queue(recipient="ana@example.com", locale="en"):
    queue_email("test", recipient, locale)
    db.session.commit()


def rows():
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


@pytest.fixture
def config_overrides(smtp):
    return {"mail": smtp_mail_config(smtp)}


def test_delivered_by_smtp_in_the_recipients_language(app, smtp):
    with app.test_request_context():
        queue("ana@example.com", "fr")
        queue("bob@example.com", "en")
    assert deliver_due() == 2
    french, english = smtp.to("ana@example.com")[0], smtp.to("bob@example.com")[0]
    assert french["Subject"] == "Message de test du portail entreprises"
    assert "l'envoi d'emails du portail fonctionne" in SmtpSink.text(french)
    assert "<p>Bonjour,</p>" in SmtpSink.html(french)
    assert english["Subject"] == "Test message from the business portal"
    assert english["From"] == "Portail <no-reply@example.com>"
    assert SmtpSink.links(english) == ["http://127.0.0.1:5000"]
    assert [r.status for r in rows()] == ["sent", "sent"]
    assert deliver_due() == 0 and len(smtp.messages) == 2


def test_an_outage_delays_mail_and_loses_none(make_app):
    port = free_port()  # nothing listens here yet
    down = {"backend": "smtp", "from": "Portail <no-reply@example.com>", "worker": False,
            "retry_base_seconds": 60, "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout": 2}}
    application = make_app(mail=down)
    with application.app_context(), application.test_request_context():
        queue()
        assert deliver_due() == 0
        [row] = rows()
        assert row.status == "queued" and row.attempts == 1 and "ConnectionRefusedError" in row.last_error
        assert row.next_attempt_at > utcnow() + timedelta(seconds=50)  # backoff: not retried at once
        assert deliver_due() == 0 and rows()[0].attempts == 1

        sink = SmtpSink(port)
        sink.start()
        try:
            # Time passes: the retry is due.
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
            assert deliver_due() == 1
            assert deliver_due() == 0
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
            assert deliver_due() == 0
            assert len(sink.messages) == 1
            assert rows()[0].status == "sent" and rows()[0].attempts == 2
        finally:
            sink.stop()


def test_gives_up_after_max_attempts(make_app):
    down = {"backend": "smtp", "worker": False, "max_attempts": 2,
            "smtp": {"host": "127.0.0.1", "port": free_port(), "starttls": False, "timeout": 2}}
    application = make_app(mail=down)
    with application.app_context(), application.test_request_context():
        queue()
        for _ in range(2):
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
            deliver_due()
        assert rows()[0].status == "failed"


def test_a_claimed_row_is_not_sent_by_another_sender(app, smtp):
    with app.test_request_context():
        queue()
    db.session.execute(update(OutboxMessage).values(claimed_until=utcnow() + timedelta(seconds=60)))
    db.session.commit()
    assert deliver_due() == 0 and smtp.messages == []


@pytest.mark.parametrize("config_overrides", [{"mail": {"backend": "file", "worker": False}}])
def test_file_backend_writes_eml_files(app):
    from pathlib import Path

    with app.test_request_context():
        queue()
    assert deliver_due() == 1
    [path] = list((Path(app.instance_path) / "mail").glob("*.eml"))
    assert b"Subject: Test message from the business portal" in path.read_bytes()


def test_background_sender_delivers_after_commit(make_app, smtp):
    application = make_app(mail={**smtp_mail_config(smtp), "worker": True})
    from idp.mail import MailSender

    sender = MailSender(application)
    application.extensions["idp.mail_sender"] = sender
    sender.start()
    try:
        with application.app_context(), application.test_request_context():
            queue()
        smtp.wait_for(1, timeout=10)
    finally:
        sender.stop()
