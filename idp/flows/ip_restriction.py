"""The sign-in step `ip_restriction` (order 30): a member limited to addresses by their company's
admins signs in for that company only from those addresses.

The step checks the company the sign-in acts for (idp.companies.chosen_company_id). Before a
person with several companies has picked one there is nothing to check yet; the company step
(order 50) comes back to the resume address, where this step runs again with the company picked,
so the restriction holds once the company is chosen. A person is restricted only when acting for
the company that restricts them: their other companies are not affected.

DESIGN.md says "not interactive: a clear page, or access_denied". No page can satisfy the step, but
a person deserves to read why they got no token: the step is declared interactive with a page
that never completes it (as `portal_access` does), and with error="access_denied", so that a
`prompt=none` request gets access_denied at once and a person gets the page, which names the
rule and the company but never the addresses allowed.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit, pipeline
from idp.accounts import auth
from idp.companies import active_memberships, chosen_company_id, find_membership
from idp.companies.restrictions import is_allowed_from
from idp.extensions import db
from idp.pipeline import Flow, Interaction, Step
from idp.web.errors import error_response

bp = Blueprint("ip_restriction", __name__)


def ip_restriction_needed(interaction: Interaction) -> str | None:
    """`address_not_allowed` when the member's allowed_ips for the chosen company leave this address out."""
    if interaction.user is None:
        return None
    memberships = active_memberships(interaction.user)
    chosen = find_membership(memberships, chosen_company_id(interaction, memberships))
    return None if is_allowed_from(chosen, interaction.address) else "address_not_allowed"


@bp.get("/sign-in/address-refused")
def denied() -> ResponseReturnValue:
    """The member may not act for this company from here: a clear page, and no token."""
    interaction = pipeline.load(request.args.get("interaction"))
    user = auth.current_user()
    if interaction is None or user is None:
        return error_response(400, _("This sign-in has expired. Please go back to your portal and try again."))
    interaction.user, interaction.address = user, request.remote_addr
    interaction.session = auth.session_facts()
    if ip_restriction_needed(interaction) is None:
        # The restriction changed meanwhile (or the address did): resume, where every check runs again.
        return redirect(interaction.return_to)
    memberships = active_memberships(user)
    chosen = find_membership(memberships, chosen_company_id(interaction, memberships))
    audit.record("membership.address_refused", user=user, company=chosen.company if chosen else None,
                 client_id=interaction.client_id)
    db.session.commit()
    flows = current_app.extensions["idp.flows"]
    return render_template("ip_restriction/denied.html", company=chosen.company.name if chosen else "",
                           address=request.remote_addr, several=len(memberships) > 1,
                           has_tools="tools" in flows), 403


flow = Flow(
    name="ip_restriction",
    blueprint=bp,
    # Interactive, with a page that never satisfies it (see the module's docstring).
    steps=(Step("ip_restriction", 30, "ip_restriction.denied", ip_restriction_needed, error="access_denied"),),
    requires=("login",),
)
