"""SQL models: everything people create at run time and that must survive a restart."""

from idp.models.api_keys import ApiKey
from idp.models.audit import AuditEvent
from idp.models.companies import Company, Membership
from idp.models.invitations import Invitation
from idp.models.links import Link
from idp.models.mfa import MfaFactor, RecoveryCode
from idp.models.oidc import BackchannelDelivery, Consent, RefreshToken, SigningKey
from idp.models.outbox import OutboxMessage
from idp.models.requests import AccessRequest, AccountRequest
from idp.models.users import User

__all__ = [
    "AccessRequest",
    "AccountRequest",
    "ApiKey",
    "AuditEvent",
    "BackchannelDelivery",
    "Company",
    "Consent",
    "Invitation",
    "Link",
    "Membership",
    "MfaFactor",
    "OutboxMessage",
    "RecoveryCode",
    "RefreshToken",
    "SigningKey",
    "User",
]
