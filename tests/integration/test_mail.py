"""The outbox: queued in SQL, delivered by SMTP, retried through an outage, sent exactly once."""

from datetime import timedelta
from email.utils import make_msgid

import pytest
from sqlalchemy import select, update

from idp import mail
from idp.extensions import db
from idp.mail import deliver_due, queue_email
from idp.models import OutboxMessage
from idp.models.base import utcnow
from idp.models.outbox import SUBJECT_MAX
from tests.conftest import Actions, IsolatedClient, smtp_mail_config
from tests.factories import PASSWORD, make_company, make_user
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
    assert "l'envoi d'e-mails du portail fonctionne" in SmtpSink.text(french)
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
        assert [r.id for r in mail.undelivered()] == [row.id]  # operators see it while it waits

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
            assert mail.undelivered() == [] and mail.count_undelivered() == 0
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


# Failures of any kind: recorded on the row, retried with backoff, given up, shown to operators.

BROKEN_SUBJECT = "Eve\r\nBcc: everyone@example.com asks for access to Durand SARL"


def legacy_row(recipient="ana@example.com", subject=BROKEN_SUBJECT, body="Hello"):
    """A row as an earlier version queued it, when a name could still hold a line break."""
    row = OutboxMessage(kind="access_request", recipient=recipient, subject=subject, body_text=body,
                        body_html=f"<p>{body}</p>", message_id=make_msgid(domain="example.com"),
                        next_attempt_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def come_due():
    """Time passes: every retry is due."""
    db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.session.commit()


def test_a_message_that_cannot_be_built_is_marked_retried_later_and_given_up(make_app, smtp):
    application = make_app(mail={**smtp_mail_config(smtp), "max_attempts": 3, "retry_base_seconds": 60})
    with application.app_context():
        legacy_row()
        assert deliver_due() == 0
        [row] = rows()
        assert (row.status, row.attempts) == ("queued", 1)
        assert row.last_error == "ValueError: Header values may not contain linefeed or carriage return characters"
        assert row.next_attempt_at > utcnow() + timedelta(seconds=50) and row.claimed_until is None
        assert deliver_due() == 0 and rows()[0].attempts == 1  # not tried again before its time

        come_due()
        assert deliver_due() == 0
        [row] = rows()
        assert (row.status, row.attempts) == ("queued", 2)
        assert row.next_attempt_at > utcnow() + timedelta(seconds=110)  # the wait doubled

        come_due()
        assert deliver_due() == 0
        assert [(r.status, r.attempts) for r in rows()] == [("failed", 3)]
        come_due()
        assert deliver_due() == 0 and rows()[0].attempts == 3  # given up: never tried again
    assert smtp.messages == []


class BrokenBackend:
    """A backend with a bug: it raises what no SMTP library would."""

    def send(self, message):
        raise RuntimeError("the backend broke")


@pytest.mark.parametrize("config_overrides", [{"mail": {"backend": "file", "worker": False,
                                                        "retry_base_seconds": 60}}])
def test_any_error_of_the_backend_is_recorded_and_retried(app):
    app.extensions["idp.mail_backend"] = BrokenBackend()
    with app.test_request_context():
        queue()
    assert deliver_due() == 0
    [row] = rows()
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "RuntimeError: the backend broke")
    assert row.next_attempt_at > utcnow() + timedelta(seconds=50)


def test_a_name_with_a_line_break_still_gives_a_one_line_subject(app, smtp):
    # Names stored before control characters were refused: the email is still delivered, its
    # subject on one line, and nothing of the name becomes a header.
    company = make_company("C-1", name="Durand SARL")
    admin = make_user("claire@example.com", given_name="Claire", family_name="Durand")
    eve = make_user("eve@example.com", given_name="Eve\r\nBcc: everyone@example.com", family_name="Petit")
    with app.test_request_context():
        queue_email("access_request", admin.email, "en", admin=admin, requester=eve, company=company,
                    link="http://127.0.0.1:5000/admin/", reminder=False)
        db.session.commit()
    assert deliver_due() == 1
    [message] = smtp.messages
    assert message["Subject"] == "Eve Bcc: everyone@example.com Petit asks for access to Durand SARL"
    assert message["Bcc"] is None and smtp.recipients == [["claire@example.com"]]


def test_a_subject_longer_than_the_column_is_cut(app, smtp):
    company = make_company("C-1", name="D" * 200)
    admin = make_user("claire@example.com")
    requester = make_user("long@example.com", given_name="G" * 100, family_name="F" * 100)
    with app.test_request_context():
        queue_email("access_request", admin.email, "en", admin=admin, requester=requester, company=company,
                    link="http://127.0.0.1:5000/admin/", reminder=True)
        db.session.commit()  # PostgreSQL refused a subject longer than the column
    [row] = rows()
    assert len(row.subject) == SUBJECT_MAX and row.subject.startswith("Reminder: GGG") and row.subject.endswith("…")
    assert deliver_due() == 1 and smtp.messages[0]["Subject"] == row.subject


def signed_in(application, email, **fields):
    """`email`'s own browser, signed in."""
    make_user(email, **fields)
    application.test_client_class = IsolatedClient
    actions = Actions(application.test_client())
    assert actions.login(email, PASSWORD).status_code == 302
    return actions


def test_operators_see_the_undelivered_emails_without_their_body(make_app, smtp):
    application = make_app(mail={**smtp_mail_config(smtp), "max_attempts": 2, "retry_base_seconds": 60})
    with application.app_context(), application.test_request_context():
        legacy_row("ana@example.com", body="http://127.0.0.1:5000/password/reset/SECRET-TOKEN")
        assert deliver_due() == 0
        come_due()
        assert deliver_due() == 0  # ana's: given up after its 2 attempts
        legacy_row("bob@example.com")
        queue("carol@example.com")
        assert deliver_due() == 1  # carol's sent; bob's waits for a retry
        retry = rows()[1].next_attempt_at
        assert [(r.recipient, r.status) for r in mail.undelivered()] == [("ana@example.com", "failed"),
                                                                          ("bob@example.com", "queued")]

        olivia = signed_in(application, "olivia@example.com", is_operator=True)
        index = olivia.client.get("/admin/operator/")
        assert "Undelivered emails</a> (2)" in index.get_data(as_text=True)
        page = olivia.client.get("/admin/operator/mail")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        ana, bob = html.index("ana@example.com"), html.index("bob@example.com")
        assert ana < html.index("Given up") < bob  # given up first, said so
        assert html.count("ValueError: Header values may not contain linefeed or carriage return characters") == 2
        assert f'<time datetime="{retry.isoformat()}">' in html[bob:]
        assert ">2</td>" in html[ana:bob] and ">1</td>" in html[bob:]
        assert "Eve\r\nBcc: everyone@example.com asks for access to Durand SARL" in html
        assert "carol@example.com" not in html and "SECRET-TOKEN" not in html and "Hello" not in html

        someone = signed_in(application, "sam@example.com")
        assert someone.client.get("/admin/operator/mail").status_code == 404
