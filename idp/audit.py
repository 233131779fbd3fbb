"""Security events, written to SQL beside the change they describe and to the log."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from idp.extensions import db
from idp.models import AuditEvent

log = logging.getLogger("idp.audit")


def record(
    event: str,
    *,
    user: Any = None,
    actor: Any = None,
    company: Any = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction; `details` must hold no secret."""
    ip = agent = None
    if has_request_context():
        ip = request.remote_addr
        agent = (request.user_agent.string or "")[:300] or None
    entry = AuditEvent(
        event=event,
        user_id=getattr(user, "id", None),
        actor_id=getattr(actor, "id", None),
        company_id=getattr(company, "id", None),
        ip=ip,
        user_agent=agent,
        details=details,
    )
    db.session.add(entry)
    log.info("%s user=%s actor=%s ip=%s %s", event, entry.user_id, entry.actor_id, ip, details)
    return entry
