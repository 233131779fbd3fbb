"""Background work runs once across nodes: the outbox, back-channel logout and the pruning job.

Two applications on one database stand for two nodes (each with its own connection pool); their
senders race in threads, and every row is counted at the end: sent once, none skipped.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from idp import mail
from idp.extensions import db
from idp.maintenance import prune
from idp.models import AuditEvent, Company, Invitation, Link, OutboxMessage
from idp.models.base import utcnow
from idp.models.oidc import BackchannelDelivery, RefreshToken
from idp.oidc import backchannel
from tests.conftest import smtp_mail_config
from tests.factories import make_user

EMAILS = 40


def count(model, *where) -> int:
    """Rows of `model`; the test's transaction ends at once (an open one would hold up the nodes'
    cleanup: PostgreSQL's TRUNCATE waits for every reader)."""
    try:
        return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar_one()
    finally:
        db.session.rollback()


def column(attribute) -> list:
    try:
        return sorted(db.session.execute(db.select(attribute)).scalars())
    finally:
        db.session.rollback()


def race(apps, work) -> list[int]:
    """Run `work()` in an app context of each app at once; the results in app order."""
    results = [0] * len(apps)
    start = threading.Barrier(len(apps))

    def run(index, application):
        with application.app_context():
            start.wait(10)
            results[index] = work()
            db.session.remove()

    threads = [threading.Thread(target=run, args=(index, application)) for index, application in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_senders_send_each_email_once(app, make_app, smtp):
    nodes = [make_app(mail=smtp_mail_config(smtp)) for _ in range(2)]
    with nodes[0].app_context():
        for number in range(EMAILS):
            db.session.add(OutboxMessage(kind="test", recipient=f"p{number}@example.com", subject=f"#{number}",
                                         body_text="t", body_html="<p>t</p>", message_id=f"<m{number}@example.com>",
                                         next_attempt_at=utcnow()))
        db.session.commit()
    sent = race(nodes, mail.deliver_due)
    assert sum(sent) == EMAILS
    smtp.wait_for(EMAILS)
    subjects = sorted(str(message["Subject"]) for message in smtp.messages)
    assert subjects == sorted(f"#{number}" for number in range(EMAILS))  # each once, none skipped
    assert count(OutboxMessage, OutboxMessage.status == "sent", OutboxMessage.attempts == 1) == EMAILS


def test_two_senders_post_each_logout_token_once(app, make_app):
    received: list[str] = []
    lock = threading.Lock()

    def post(uri, token):
        with lock:
            received.append(token)
        return None

    nodes = [make_app() for _ in range(2)]
    with nodes[0].app_context():
        for number in range(EMAILS):
            db.session.add(BackchannelDelivery(client_id="shop", uri="http://127.0.0.1:9/bc", logout_token=f"t{number}",
                                               next_attempt_at=utcnow()))
        db.session.commit()
    original = backchannel._post
    backchannel._post = post
    try:
        delivered = race(nodes, lambda: backchannel.deliver_due(limit=EMAILS))
    finally:
        backchannel._post = original
    assert sum(delivered) == EMAILS
    assert sorted(received) == sorted(f"t{number}" for number in range(EMAILS))


def test_prune_removes_what_nothing_needs_and_keeps_the_rest(app):
    config = app.config["IDP"]
    user = make_user()
    company = Company(external_id="C-1", name="Durand")
    db.session.add(company)
    now = utcnow()
    past, future = now - timedelta(days=1), now + timedelta(days=1)

    def token(family, expires, number):
        return RefreshToken(token_hash=f"{family}-{number}", family_id=family, client_id="web", user_id=user.id,
                            expires_at=expires)

    db.session.add_all([
        token("dead", past, 1), token("dead", past, 2),
        # One live token keeps its whole family: reuse of the rotated one must still be recognised.
        token("alive", past, 1), token("alive", future, 2),
        Link(token_hash="old", purpose="password_reset", user_id=user.id, expires_at=past),
        Link(token_hash="new", purpose="password_reset", user_id=user.id, expires_at=future),
    ])
    db.session.flush()
    for name, expires, accepted in (("gone", now - timedelta(days=31), None), ("recent", past, None),
                                    ("accepted", now - timedelta(days=90), now - timedelta(days=95))):
        db.session.add(Invitation(company_id=company.id, email=f"{name}@example.com", role="order",
                                  token_hash=name, expires_at=expires, accepted_at=accepted))
    retention = config.audit.retention_days
    db.session.add_all([AuditEvent(event="user.signed_in", created_at=now - timedelta(days=retention + 1)),
                        AuditEvent(event="user.signed_in", created_at=now - timedelta(days=retention - 1))])
    db.session.commit()

    removed = prune(config)
    assert removed["refresh_tokens"] == 2 and removed["links"] == 1
    assert removed["invitations"] == 1 and removed["audit_events"] == 1
    assert column(RefreshToken.token_hash) == ["alive-1", "alive-2"]
    assert column(Link.token_hash) == ["new"]
    assert column(Invitation.token_hash) == ["accepted", "recent"]
    assert count(AuditEvent) == 1
    assert set(prune(config).values()) == {0}


def test_two_nodes_pruning_at_once_remove_each_row_once(app, make_app):
    nodes = [make_app() for _ in range(2)]
    old = utcnow() - timedelta(days=app.config["IDP"].audit.retention_days + 1)
    db.session.add_all([AuditEvent(event="user.signed_in", created_at=old) for _ in range(2500)])
    db.session.commit()
    removed = race(nodes, lambda: prune(nodes[0].config["IDP"])["audit_events"])
    assert sum(removed) == 2500
    assert count(AuditEvent) == 0


def test_idp_db_prune(app, backend, tmp_path):
    from click.testing import CliRunner

    from idp.cli import main
    from tests.conftest import base_config
    from tests.e2e.conftest import write_config

    db.session.add(AuditEvent(event="user.signed_in", created_at=utcnow() - timedelta(days=10)))
    db.session.commit()
    document = base_config(backend, tmp_path, audit={"retention_days": 5})
    path = write_config(tmp_path / "prune.yaml", document)
    result = CliRunner().invoke(main, ["--config", str(path), "db", "prune"])
    assert result.exit_code == 0, result.output
    assert "audit_events: 1 removed" in result.output
    assert count(AuditEvent) == 0
