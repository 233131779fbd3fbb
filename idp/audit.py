"""Security events, written to SQL beside the change they describe and to the log."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from idp import metrics
from idp.extensions import db
from idp.models import AuditEvent

log = logging.getLogger("idp.audit")


def record(
    event: str,
    *,
    user: Any = None,
    actor: Any = None,
    company: Any = None,
    ip: str | None = None,
    user_agent: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction; `details` must hold no secret.

    The client's address and user agent are the request's; code answering without a request
    context (the token endpoint's early path) passes them as `ip` and `user_agent`.
    """
    agent = user_agent
    if has_request_context():
        ip = ip or request.remote_addr
        agent = agent or request.user_agent.string
    agent = (agent or "")[:300] or None
    entry = AuditEvent(
        event=event,
        user_id=getattr(user, "id", None),
        actor_id=getattr(actor, "id", None),
        company_id=getattr(company, "id", None),
        ip=ip[:64] if ip else None,
        user_agent=agent,
        details=details,
    )
    db.session.add(entry)
    fields = {"event": event, "user_id": entry.user_id, "actor_id": entry.actor_id, "ip": ip, **details}
    log.info("%s user=%s actor=%s ip=%s %s", event, entry.user_id, entry.actor_id, ip, details,
             extra={"idp_fields": fields})
    metrics.record_event(event, details)
    return entry
