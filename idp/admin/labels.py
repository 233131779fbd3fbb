"""What the administration pages show people instead of codes: statuses, roles and audit events by their labels."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app
from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from idp.models.companies import MembershipStatus
from idp.models.requests import RequestStatus
from idp.models.users import UserStatus
from idp.web.i18n import current_language

MEMBERSHIP_STATUSES: dict[str, LazyString] = {
    MembershipStatus.PENDING: _l("Pending"),
    MembershipStatus.ACTIVE: _l("Active"),
    MembershipStatus.DISABLED: _l("Deactivated"),
}

USER_STATUSES: dict[str, LazyString] = {
    UserStatus.PENDING: _l("Email address not confirmed"),
    UserStatus.ACTIVE: _l("Active account"),
    UserStatus.DISABLED: _l("Disabled account"),
}

# Access requests (to join a company) and account requests (for a new company) share these.
REQUEST_STATUSES: dict[str, LazyString] = {
    RequestStatus.PENDING: _l("Waiting for a decision"),
    RequestStatus.APPROVED: _l("Request approved"),
    RequestStatus.REJECTED: _l("Request rejected"),
    RequestStatus.WITHDRAWN: _l("Request withdrawn"),
}

# One sentence per event that idp code records (audit.record); tests/integration/admin/test_labels.py
# finds every recorded name in the source and fails on one missing here. An event no longer recorded
# keeps its label: the log still holds its rows.
EVENTS: dict[str, LazyString] = {
    "access_request.approved": _l("An access request to the company was approved."),
    "access_request.filed": _l("A person asked to join the company."),
    "access_request.rejected": _l("An access request to the company was rejected."),
    "access_request.reminded": _l("A person reminded the administrators of their access request."),
    "access_request.withdrawn": _l("A person withdrew their access request."),
    "account_request.approved": _l("An account request was approved and the accounts created."),
    "account_request.filed": _l("An account request for a new company was filed."),
    "account_request.person_skipped": _l("A person of an account request was skipped."),
    "account_request.rejected": _l("An account request was rejected."),
    "admin.address_refused": _l("A company administrator was refused the admin pages from an address outside "
                                "their restriction."),
    "api_key.issued": _l("An API key was issued to a member."),
    "api_key.refused": _l("An API key was refused (unknown, revoked, expired, member inactive or address not "
                          "allowed)."),
    "api_key.revoked": _l("An API key was revoked."),
    "api_key.throttled": _l("An API key was used too often and was throttled."),
    "api_key.used": _l("An API key was exchanged for an access token."),
    "api_key.voided": _l("A member's API keys were revoked with their membership."),
    "client.authentication_failed": _l("A portal failed to authenticate to the provider."),
    "client.locked_out": _l("A portal's authentication was blocked after too many failures."),
    "client.network_refused": _l("A portal was used from a network it is not allowed from."),
    "companies.imported": _l("The company directory was imported."),
    "company.join_failed": _l("An attempt to join a company failed (wrong identifier or member code)."),
    "company.join_locked_out": _l("Attempts to join a company were blocked after too many failures."),
    "company.switched": _l("A person switched to another of their companies."),
    "consent.granted": _l("A person allowed a portal to access their information."),
    "consent.refused": _l("A person refused a portal access to their information."),
    "invitation.accepted": _l("An invitation was accepted."),
    "invitation.refused": _l("An invitation could not be accepted."),
    "invitation.resent": _l("An invitation was sent again."),
    "invitation.revoked": _l("An invitation was withdrawn."),
    "invitation.sent": _l("An invitation was sent."),
    "membership.admin_granted": _l("A member was given administrator rights."),
    "membership.admin_revoked": _l("A member's administrator rights were taken back."),
    "membership.created": _l("A person became a member of the company."),
    "membership.deactivated": _l("A member was deactivated."),
    "membership.reactivated": _l("A member was reactivated."),
    "membership.address_refused": _l("A sign-in was refused: the member may not act for the company from this "
                                     "address."),
    "membership.removed": _l("A member was removed from the company."),
    "membership.role_changed": _l("A member's role or branch was changed."),
    "membership.restrictions_changed": _l("A member's allowed addresses or branch were changed."),
    "mfa.factor_added": _l("A person added a second factor."),
    "mfa.factor_removed": _l("A person removed a second factor."),
    "mfa.factor_renamed": _l("A person renamed a second factor."),
    "mfa.recovery_codes_issued": _l("New recovery codes were issued to a person."),
    "mfa.reset": _l("An operator removed every second factor of a person (two-step verification reset)."),
    "mfa.sign_count_regressed": _l("A security key was refused: its signature counter went back (a cloned key?)."),
    "operator.network_refused": _l("The operator pages were refused from a network they are not allowed from."),
    "portal.access_refused": _l("Access to a portal was refused."),
    "refresh_token.mfa_required": _l("A refresh token was refused: the security policy now asks for a second "
                                     "factor that its sign-in did not prove."),
    "refresh_token.address_refused": _l("A refresh token was refused: used from an address the member is not "
                                        "allowed."),
    "user.confirmation_resend_ignored": _l("A new confirmation link was asked for an unknown or confirmed address."),
    "user.confirmation_resent": _l("A new email address confirmation link was sent."),
    "user.confirmation_throttled": _l("Requests for confirmation links were throttled."),
    "user.created": _l("An account was created."),
    "user.disabled": _l("An account was disabled."),
    "user.email_change_refused": _l("An email address change was refused (wrong password)."),
    "user.email_change_requested": _l("A change of email address was requested."),
    "user.email_changed": _l("The email address of an account was changed."),
    "user.email_confirmed": _l("An email address was confirmed."),
    "user.first_password_set": _l("A person chose their first password."),
    "user.language_changed": _l("A person changed their language."),
    "user.locked_out": _l("Sign-in was blocked after too many failed attempts."),
    "user.lockout_notified": _l("The owner of an account was told of many failed sign-ins."),
    "user.mfa_failed": _l("A second factor was refused (wrong code, unknown or refused security key)."),
    "user.mfa_locked_out": _l("Second factors were blocked after too many failures."),
    "user.mfa_verified": _l("A person proved a second factor."),
    "user.operator_granted": _l("A person was made an operator."),
    "user.operator_revoked": _l("A person's operator rights were taken back."),
    "user.passkey_failed": _l("A sign-in with a passkey failed."),
    "user.password_change_refused": _l("A password change was refused (wrong current password)."),
    "user.password_changed": _l("A password was changed."),
    "user.password_check_failed": _l("A wrong current password was typed to confirm a change."),
    "user.password_link_sent": _l("A link to choose a password was sent."),
    "user.password_reset": _l("A forgotten password was reset."),
    "user.password_reset_requested": _l("A password reset link was asked for."),
    "user.password_reset_throttled": _l("Password reset requests were throttled."),
    "user.registered": _l("A person signed up."),
    "user.registration_for_existing_account": _l("A sign-up was tried with the address of an existing account."),
    "user.registration_repeated": _l("A person signed up again before confirming their address."),
    "user.registration_throttled": _l("Sign-ups were throttled."),
    "user.sign_in_failed": _l("A sign-in failed (wrong email, username or password)."),
    "user.sign_in_refused": _l("A sign-in was refused (account disabled or address not confirmed)."),
    "user.signed_in": _l("A person signed in."),
    "user.signed_out": _l("A person signed out."),
}


def _label(labels: dict[str, LazyString], code: str | None) -> str:
    # A code with no label (a row written by a newer version) is shown as it is rather than hidden.
    return str(labels[code]) if code in labels else str(code or "")


def membership_status(code: str | None) -> str:
    return _label(MEMBERSHIP_STATUSES, code)


def user_status(code: str | None) -> str:
    return _label(USER_STATUSES, code)


def request_status(code: str | None) -> str:
    return _label(REQUEST_STATUSES, code)


def event(code: str | None) -> str:
    return _label(EVENTS, code)


def role(code: str | None) -> str:
    """The configured label of role `code` (config `roles:`) in the page's language."""
    roles = current_app.config["IDP"].roles
    return roles[code].get(current_language()) if code in roles else str(code or "")


def readable(value: Any) -> str:
    """A detail of an audit event as people read it: text as it is, a list of texts as a list, nothing
    as a dash, anything else as JSON in plain Unicode ("Montréal", not "Montr\\u00e9al")."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def template_helpers() -> dict[str, Any]:
    """The labels for the administration templates (a blueprint context processor)."""
    return {"membership_status_label": membership_status, "user_status_label": user_status,
            "request_status_label": request_status, "event_label": event, "role_label": role,
            "readable": readable, "timezone_name": lambda: str(get_timezone())}
