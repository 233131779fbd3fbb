"""SQL models: everything people create at run time and that must survive a restart."""

from idp.models.audit import AuditEvent
from idp.models.companies import Company, Membership
from idp.models.links import Link
from idp.models.outbox import OutboxMessage
from idp.models.users import User

__all__ = ["AuditEvent", "Company", "Link", "Membership", "OutboxMessage", "User"]
