"""Removal of rows nothing needs any more: the pruning job of every serving process, and `idp db prune`.

What goes: refresh-token families whose every token has expired (a family is kept whole while one
of its tokens lives, so that reuse of a rotated token is still recognised and revokes it), expired
single-use links, invitations neither accepted nor still valid a month after their end, emails sent
and logout tokens posted a month ago (their bodies carry links and tokens), and audit rows older than
`audit.retention_days`.

Every serving process runs the job about once an hour; a lease in the store lets one node of the
cluster take each hour's turn, and the rows are deleted in batches chosen FOR UPDATE SKIP LOCKED
on PostgreSQL, so two nodes that run it at once (the store away, `idp db prune` by hand) delete each
row once and never wait on each other.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, func

from idp import mail, metrics
from idp.config import IdpConfig
from idp.extensions import db
from idp.models import AuditEvent, Invitation, Link, OutboxMessage
from idp.models.base import utcnow
from idp.models.oidc import BackchannelDelivery, RefreshToken
from idp.store import StoreUnavailableError, get_store

log = logging.getLogger("idp.maintenance")

BATCH = 1000  # rows per statement: short transactions, no long lock on a busy table
KEEP_DEAD_FOR = timedelta(days=30)
INTERVAL_SECONDS = 3600
LEASE_KEY = "job:prune"  # TTL: a little under INTERVAL_SECONDS, one node's turn per hour


def _conditions(config: IdpConfig) -> dict[str, tuple[Any, list[Any]]]:
    """Per table, the model and what makes one of its rows removable now."""
    now = utcnow()
    dead_families = (db.select(RefreshToken.family_id).group_by(RefreshToken.family_id)
                     .having(func.max(RefreshToken.expires_at) < now))
    conditions: dict[str, tuple[Any, list[Any]]] = {
        "refresh_tokens": (RefreshToken, [RefreshToken.family_id.in_(dead_families)]),
        "links": (Link, [Link.expires_at < now]),
        "invitations": (Invitation, [Invitation.accepted_at.is_(None), Invitation.expires_at < now - KEEP_DEAD_FOR]),
        "outbox": (OutboxMessage, [OutboxMessage.status == "sent", OutboxMessage.sent_at < now - KEEP_DEAD_FOR]),
        "backchannel_deliveries": (BackchannelDelivery, [BackchannelDelivery.delivered_at < now - KEEP_DEAD_FOR]),
    }
    if config.audit.retention_days is not None:
        cutoff = now - timedelta(days=config.audit.retention_days)
        conditions["audit_events"] = (AuditEvent, [AuditEvent.created_at < cutoff])
    return conditions


def _delete_batch(model: Any, where: list[Any]) -> int:
    chosen = db.select(model.id).where(*where).limit(BATCH).with_for_update(skip_locked=True)
    removed = db.session.execute(delete(model).where(model.id.in_(chosen), *where)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return removed


def prune(config: IdpConfig) -> dict[str, int]:
    """Remove what is no longer needed (see the module); returns the rows removed per table."""
    removed: dict[str, int] = {}
    for table, (model, where) in _conditions(config).items():
        total = 0
        while True:
            count = _delete_batch(model, where)
            total += count
            if count < BATCH:
                break
        removed[table] = total
        if total:
            metrics.PRUNED.labels(table).inc(total)
    # Not a removal: the bodies of emails sent a while ago are emptied, the rows kept (idp.mail).
    removed["outbox_bodies"] = mail.drop_sent_bodies(utcnow())
    if any(removed.values()):
        log.info("pruned %s", ", ".join(f"{table}={count}" for table, count in removed.items() if count))
    return removed


def take_turn() -> bool:
    """Whether this node prunes this hour: the first to set the lease does. Without the store the
    node prunes anyway (each row is still deleted once), rather than letting rows pile up."""
    try:
        return get_store().add(LEASE_KEY, "1", INTERVAL_SECONDS - 60)
    except StoreUnavailableError:
        return True


class Pruner:
    """A daemon thread per serving process that runs `prune` when its node's turn comes."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="idp-pruner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        # A random first wait: nodes started together do not all ask for the lease at the same moment,
        # and a node that restarts often does not prune at each start.
        wait = random.uniform(60, 600)
        while not self._stop.wait(wait):
            wait = INTERVAL_SECONDS / 4  # asking for the lease is cheap; holding it is one node's hour
            try:
                with self.app.app_context():
                    if take_turn():
                        prune(self.app.config["IDP"])
                    db.session.remove()
            except Exception:
                log.exception("pruning failed; tried again at the next turn")
