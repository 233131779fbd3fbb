"""The outbox: emails are queued as SQL rows, then delivered by SMTP, to files, or to the console.

Queuing happens in the caller's transaction, so an email exists exactly when the change that
caused it was committed. A sender claims due rows one at a time (an UPDATE that only one
sender can win), delivers, and marks them sent; any failure (the network's, or a message that
cannot be built) is written on the row and schedules a retry with exponential backoff, until
`mail.max_attempts` tries give the row up (status "failed"). An SMTP outage therefore delays mail
and loses none, several serving processes can run senders side by side without sending a message
twice, and what was not delivered is listed for operators (`undelivered`, /admin/operator/mail).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app, render_template
from flask_babel import force_locale
from sqlalchemy import event, func, or_, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from idp.config import IdpConfig, MailConfig
from idp.extensions import db
from idp.models import OutboxMessage, User
from idp.models.base import utcnow
from idp.models.outbox import SUBJECT_MAX
from idp.text import without_control_characters

log = logging.getLogger("idp.mail")

MAX_BACKOFF_SECONDS = 3600
CLAIM_SECONDS = 120
LAST_ERROR_MAX = 1000


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpBackend:
    def __init__(self, config: MailConfig) -> None:
        assert config.smtp is not None
        self.smtp = config.smtp

    def send(self, message: EmailMessage) -> None:
        smtp = self.smtp
        # The server's certificate is always verified; a private CA can be named, never skipped.
        context = ssl.create_default_context(cafile=smtp.ca_file)
        client_class = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
        kwargs: dict[str, Any] = {"timeout": smtp.timeout}
        if smtp.ssl:
            kwargs["context"] = context
        with client_class(smtp.host, smtp.port, **kwargs) as client:
            if smtp.starttls:
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)


class FileBackend:
    """Writes each message as an .eml file: the demo's mailbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        ident = message["Message-ID"].strip("<>").split("@")[0]
        (self.directory / f"{stamp}-{ident}.eml").write_bytes(bytes(message))


class ConsoleBackend:
    """Prints messages to standard output, for development only."""

    def send(self, message: EmailMessage) -> None:
        print(message.as_string(), flush=True)


def create_backend(config: IdpConfig, instance_path: str) -> MailBackend:
    if config.mail.backend == "smtp":
        return SmtpBackend(config.mail)
    if config.mail.backend == "file":
        return FileBackend(Path(instance_path) / config.mail.directory)
    return ConsoleBackend()


def render_email(kind: str, locale: str | None, **context: Any) -> tuple[str, str, str]:
    """Subject, text body and HTML body of templates/email/<kind>/ in the recipient's language
    (the default language when theirs is not offered)."""
    config: IdpConfig = current_app.config["IDP"]
    language = locale if locale in config.languages else config.locale_default
    context.setdefault("issuer", config.issuer)
    context["lang"] = language
    with force_locale(language):
        subject = render_template(f"email/{kind}/subject.txt", **context).strip()
        body_text = render_template(f"email/{kind}/body.txt", **context)
        body_html = render_template(f"email/{kind}/body.html", **context)
    return subject, body_text, body_html


def recipient_language(recipient: str, locale: str | None) -> str | None:
    """The language of an email: the locale of the account at `recipient` when it has one, else
    `locale`, the caller's guess (the inviter's page language for an address without an account)."""
    # No autoflush: queuing must not write the caller's pending changes early (or fail on them).
    with db.session.no_autoflush:
        account = User.find_by_email(recipient)
    return (account.locale if account is not None else None) or locale


def queue_email(kind: str, recipient: str, locale: str | None, **context: Any) -> OutboxMessage:
    """Render templates/email/<kind>/ in the recipient's language (`recipient_language`) and queue
    the message.

    The row joins the caller's transaction; it is delivered after the caller commits.
    """
    config: IdpConfig = current_app.config["IDP"]
    subject, body_text, body_html = render_email(kind, recipient_language(recipient, locale), **context)
    domain = config.mail.from_.rpartition("@")[2].strip("> ") or "localhost"
    message = OutboxMessage(
        kind=kind,
        recipient=recipient,
        subject=subject_line(subject),
        body_text=body_text,
        body_html=body_html,
        message_id=make_msgid(domain=domain),
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    sender = current_app.extensions.get("idp.mail_sender")
    if sender is not None:
        db.session.info["idp.mail_sender"] = sender
    return message


def subject_line(subject: str) -> str:
    """The subject as a header can carry it and the outbox keep it: on one line (a name typed
    before control characters were refused must not make the message unsendable), and cut to
    the column's length (a long company name and a long person's name together exceed it)."""
    line = without_control_characters(subject)
    if len(line) > SUBJECT_MAX:
        line = line[:SUBJECT_MAX - 1].rstrip() + "\u2026"
    return line


@event.listens_for(Session, "after_commit")
def _wake_sender(session: Session) -> None:
    # The sender is woken only once the row is committed, so it never looks too early.
    sender = session.info.pop("idp.mail_sender", None)
    if sender is not None:
        sender.notify()


def build_message(row: OutboxMessage, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    return message


def _due(now: datetime) -> tuple[Any, ...]:
    return (OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))


def claim_next() -> int | None:
    """Claim the next due message for this sender (one statement, committed); None when none is due.

    On PostgreSQL the row is chosen FOR UPDATE SKIP LOCKED, so senders of several nodes never wait
    for each other nor take the same row; the conditional UPDATE around it is the gate on SQLite too.
    """
    now = utcnow()
    candidate = (db.select(OutboxMessage.id).where(*_due(now)).order_by(OutboxMessage.id).limit(1)
                 .with_for_update(skip_locked=True).scalar_subquery())
    claimed = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == candidate, *_due(now))
        .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS)).returning(OutboxMessage.id)
    ).scalar_one_or_none()
    db.session.commit()
    return claimed


def deliver_due(limit: int = 100) -> int:
    """Deliver the queued messages whose time has come, at most `limit`; returns how many were sent."""
    config: IdpConfig = current_app.config["IDP"]
    backend: MailBackend = current_app.extensions["idp.mail_backend"]
    sent = 0
    for _ in range(limit):
        row_id = claim_next()
        if row_id is None:
            break
        row = db.session.get(OutboxMessage, row_id)
        if row is None:
            continue
        # Any failure counts, not only the network's: a message that cannot even be built (a header
        # the email package refuses) or a backend's bug is recorded, retried and in the end given
        # up where operators see it, instead of being retried silently each time its claim ends.
        try:
            backend.send(build_message(row, config.mail.from_))
        except Exception as exc:  # noqa: BLE001
            _record_failure(row_id, exc, config.mail)
            continue
        _mark_sent(row_id)
        sent += 1
    return sent


MARK_SENT_WAITS = (0.5, 1, 2, 4, 8, 16, 30)  # 61.5 s in all, within the claim of CLAIM_SECONDS


def _mark_sent(row_id: int) -> None:
    """Write down that the message left. The server has it already: should the database be away
    (a PostgreSQL restart), wait for it rather than let the claim lapse and another sender send it
    again. Only a database away for longer than the claim can still make a message go twice."""
    values = {"status": "sent", "sent_at": utcnow(), "attempts": OutboxMessage.attempts + 1, "claimed_until": None}
    for wait in (*MARK_SENT_WAITS, None):
        try:
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))
            db.session.commit()
            return
        except (OperationalError, InterfaceError):
            db.session.rollback()
            if wait is None:
                raise
            log.warning("mail #%s sent, the database is unreachable: recording it again in %ss", row_id, wait)
            time.sleep(wait)


def retry_delay(attempts: int, config: MailConfig) -> timedelta:
    """How long to wait after the `attempts`-th failed try: doubling from retry_base_seconds, at most an hour."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, config.retry_base_seconds * 2 ** (attempts - 1)))


def _record_failure(row_id: int, exc: Exception, config: MailConfig) -> None:
    """Count the failed try on the row with its error, and schedule the next one or give the row up."""
    # The failure may have come from the session itself: start again from a clean transaction.
    db.session.rollback()
    row = db.session.get(OutboxMessage, row_id)
    if row is None:
        return
    expected = isinstance(exc, (OSError, smtplib.SMTPException))
    row.attempts += 1
    # On one line: it goes to the log and to the operators' page (a server's reply may span lines).
    row.last_error = without_control_characters(f"{type(exc).__name__}: {exc}")[:LAST_ERROR_MAX]
    row.claimed_until = None
    if row.attempts >= config.max_attempts:
        row.status = "failed"
        log.error("mail %s #%s given up after %s attempts: %s", row.kind, row.id, row.attempts, row.last_error,
                  exc_info=None if expected else exc)
    else:
        delay = retry_delay(row.attempts, config)
        row.next_attempt_at = utcnow() + delay
        # An outage is expected and logged in one line; anything else is a bug, with its traceback.
        log.warning("mail %s #%s not sent (attempt %s), retry in %ss: %s", row.kind, row.id, row.attempts,
                    int(delay.total_seconds()), row.last_error, exc_info=None if expected else exc)
    db.session.commit()


# Not sent, and tried at least once: given up, or waiting for a retry after an error.
_UNDELIVERED = (OutboxMessage.status != "sent", OutboxMessage.attempts > 0)


def undelivered(limit: int = 100) -> list[OutboxMessage]:
    """The messages not delivered that failed at least once: given up first, then those waiting
    for a retry; the newest first in each."""
    return list(db.session.execute(
        db.select(OutboxMessage).where(*_UNDELIVERED)
        .order_by(OutboxMessage.status != "failed", OutboxMessage.id.desc())
        .limit(limit)
    ).scalars().all())


def count_undelivered() -> int:
    return db.session.execute(db.select(func.count()).select_from(OutboxMessage).where(*_UNDELIVERED)).scalar_one()


BODY_BATCH = 1000  # rows per UPDATE: short transactions on a busy table


def drop_sent_bodies(now: datetime) -> int:
    """Empty the bodies of emails sent more than `mail.keep_sent_days` ago; returns how many.

    A body holds single-use links and is most of an email's size; what the operators see of an
    email (recipient, subject, status, attempts, dates) stays until the pruning job removes the
    row. Called by the pruning job (idp.maintenance.prune, `idp db prune`)."""
    cutoff = now - timedelta(days=current_app.config["IDP"].mail.keep_sent_days)
    where = (OutboxMessage.status == "sent", OutboxMessage.sent_at < cutoff,
             or_(OutboxMessage.body_text != "", OutboxMessage.body_html != ""))
    total = 0
    while True:
        chosen = db.select(OutboxMessage.id).where(*where).limit(BODY_BATCH)
        count = db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(chosen)).values(body_text="", body_html="")
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        total += count
        if count < BODY_BATCH:
            return total


class MailSender:
    """A daemon thread per serving process that delivers the outbox as rows come due."""

    POLL_SECONDS = 5.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="idp-mail-sender", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.POLL_SECONDS)
            self._wake.clear()
            try:
                with self.app.app_context():
                    while deliver_due() and not self._stop.is_set():
                        pass
            except Exception:
                log.exception("mail sender pass failed")


def outbox_stats() -> tuple[int, float, int]:
    """What /metrics shows of the outbox: messages waiting, the age in seconds of the oldest of them
    (0 when none waits), and messages given up."""
    waiting, oldest = db.session.execute(
        db.select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "queued")
    ).one()
    failed = db.session.execute(
        db.select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
    ).scalar_one()
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return waiting, max(0.0, age), failed
