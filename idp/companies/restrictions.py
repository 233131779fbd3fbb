"""A member's restrictions in a company: the addresses they may act from, and their branch.

Set by the company's admins (the member's page, an invitation); read wherever the membership is
used: the sign-in step `ip_restriction` (idp.flows.ip_restriction), a refresh token's use
(idp.oidc.server), an API key's exchange (idp.security.api_keys) and the admin pages. A person
with several companies is restricted only when acting for the company that restricts them.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from idp import audit
from idp.companies import CompanyError, _access_changed, check_branch
from idp.extensions import db
from idp.models import Company, Membership, User
from idp.security.restrictions import MAX_ENTRIES, EntryError, address_allowed, parse_allowed_ips


def _entry_message(error: EntryError) -> str:
    if error.problem == "host_bits":
        return _("%(entry)s is not a network: its last bits are set (did you mean %(network)s?).",
                 entry=error.entry, network=error.suggestion)
    if error.problem == "too_many":
        return ngettext("At most %(num)d address or network.", "At most %(num)d addresses or networks.",
                        MAX_ENTRIES)
    return _("%(entry)s is not an IP address or a network (such as 192.0.2.7, 2001:db8::/32 or 10.0.0.0/8).",
             entry=error.entry)


def check_allowed_ips(text: str | None) -> list[str]:
    """The networks typed (one per line or comma-separated), canonical; CompanyError naming every
    entry that is not one."""
    networks, errors = parse_allowed_ips(text)
    if errors:
        raise CompanyError(" ".join(_entry_message(error) for error in errors))
    return networks


def set_restrictions(membership: Membership, actor: User, allowed_ips: str | None, branch: str | None) -> None:
    """Change the member's addresses and branch; audited, and the member's refresh tokens are
    revoked (signals.memberships_changed) so that no portal keeps tokens from before the change."""
    networks = check_allowed_ips(allowed_ips)
    # A branch stored before the directory listed branches may stay as it is; a new one must be listed.
    unchanged = (branch or "").strip() == (membership.branch or "")
    branch = membership.branch if unchanged else check_branch(branch, membership.company)
    before = {"allowed_ips": membership.allowed_networks, "branch": membership.branch}
    after = {"allowed_ips": networks, "branch": branch}
    if before == after:
        return
    membership.allowed_ips = ",".join(networks) or None
    membership.branch = branch
    audit.record("membership.restrictions_changed", user=membership.user, actor=actor, company=membership.company,
                 before=before, **after)
    _access_changed(membership.user)
    db.session.commit()


_MEMBERSHIP_IN = (
    select(Membership).join(Company, Membership.company_id == Company.id)
)


def membership_in(user: User, company_public_id: str | None) -> Membership | None:
    """The user's membership of the company with this public id, whatever its status."""
    if not company_public_id:
        return None
    return db.session.execute(
        _MEMBERSHIP_IN.where(Membership.user_id == user.id, Company.public_id == company_public_id)
    ).scalar_one_or_none()


def is_allowed_from(membership: Membership | None, address: str | None) -> bool:
    """May this member act for its company from `address`? No membership: no restriction of ours."""
    return membership is None or address_allowed(address, membership.allowed_networks)


def allowed_ips_of(user: User, company_public_id: str | None) -> list[str]:
    """The networks `user` may act for the company from ([]: any), as a refresh family keeps them."""
    membership = membership_in(user, company_public_id)
    return membership.allowed_networks if membership is not None else []


def address_refused(user: User, company_public_id: str | None, address: str | None,
                    known: list[str] | None = None) -> bool:
    """True when `user`, acting for the company `company_public_id`, may not act from `address`.

    What the refresh grant asks. `known`: the member's networks as the refresh family recorded them
    (every change to them revokes the family, so the copy is current); None reads the membership.
    No company: False.
    """
    if known is not None:
        return company_public_id is not None and not address_allowed(address, known)
    return not is_allowed_from(membership_in(user, company_public_id), address)
