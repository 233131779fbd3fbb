"""The second factor asked for outside a portal's sign-in: the administration pages.

The security team's `mfa.required_for` covers people (operators, company admins) and what they
act for (a company, a role there): the same policy that guards tokens guards the pages where
those people act on the provider itself. A session that has not proved a second factor goes
through the step-up page (/mfa), or enrollment when the person has none, and comes back.
"""

from __future__ import annotations

from flask import current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response

from idp.companies import active_memberships
from idp.models import User
from idp.security.mfa.policy import has_second_factor, required_by_policy
from idp.web.redirects import this_page


def step_up_for_admin(user: User, company_public_id: str | None = None) -> Response | None:
    """A redirect to the step-up page when the policy covers `user` (acting for that company)
    and the session has not proved a second factor; None when the page may be shown."""
    config = current_app.config["IDP"]
    if not config.mfa.required_for or has_second_factor(session.get("amr", ())):
        return None
    if not required_by_policy(config, user, active_memberships(user), company_public_id, None):
        return None
    # A POST is not replayed after the step-up: it comes back to the page it was posted from.
    target = this_page() if request.method in ("GET", "HEAD") else url_for("admin_companies.index")
    return redirect(url_for("mfa.step", next=target))
