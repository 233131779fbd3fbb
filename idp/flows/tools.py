"""The list of tools (/tools): the portals the person may use in their active company, and the switcher.

The active company is kept in the SSO session (session["company"], a Company.public_id); the
company step picks it without asking at the next sign-in to a portal, whose tokens then carry
it. Portals are the configuration's clients with a `launch_url`, shown when their `roles`
admit the person's role in the active company (or always, when they list none).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp import audit, companies
from idp.accounts import auth
from idp.config import ClientConfig
from idp.extensions import db
from idp.models import Membership
from idp.pipeline import Flow
from idp.web.forms import Form
from idp.web.i18n import current_language

bp = Blueprint("tools", __name__)

class SwitchForm(Form):
    company_id = StringField(validators=[DataRequired(), Length(max=64)])


def active_membership(memberships: list[Membership], remembered: str | None) -> Membership | None:
    """The session's company if still an active membership, else the first one."""
    chosen = companies.find_membership(memberships, remembered)
    return chosen or (memberships[0] if memberships else None)


def visible_tools(clients: list[ClientConfig], membership: Membership | None) -> list[ClientConfig]:
    """The portals with a launch link that this membership may use."""
    return [c for c in clients if c.launch_url and companies.role_allowed(c.roles, membership)]


@bp.get("/tools")
def index() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return auth.sign_in_redirect("tools.index")
    memberships = companies.active_memberships(user)
    flows = current_app.extensions["idp.flows"]
    pending = companies.requests_of(user) if "company_join" in flows else []
    # Document 002: while no access is granted, each sign-in lands on the pending requests.
    if not memberships and pending:
        return redirect(url_for("company_join.requests"))
    current = active_membership(memberships, session.get(auth.SESSION_COMPANY))
    if current is not None and session.get(auth.SESSION_COMPANY) != current.company.public_id:
        # The company this page says the person acts for is the session's active company, the one
        # the portals' next sign-ins use (a silent one too): shown, so recorded. Without this, a
        # membership granted later (an approval, an invitation) left the session without one, the
        # page showing the first company while a prompt=none sign-in found none.
        session[auth.SESSION_COMPANY] = current.company.public_id
    config = current_app.config["IDP"]
    language = current_language()
    tools = [{"name": c.name.get(language) if c.name else c.client_id, "url": c.launch_url}
             for c in visible_tools(config.clients, current)]
    return render_template("tools/index.html", tools=tools, memberships=memberships, current=current,
                           pending=pending, form=SwitchForm(), roles=config.roles, language=language,
                           can_join="company_join" in flows)


@bp.post("/tools/company")
def switch() -> ResponseReturnValue:
    """Make another membership the active company; portals get it at their next sign-in."""
    user = auth.current_user()
    if user is None:
        return auth.sign_in_redirect("tools.index")
    form = SwitchForm()
    chosen = None
    if form.validate_on_submit():
        chosen = companies.find_membership(companies.active_memberships(user), form.company_id.data)
    if chosen is None:
        flash(_("Choose one of your companies."), "error")
        return redirect(url_for("tools.index"))
    session[auth.SESSION_COMPANY] = chosen.company.public_id
    audit.record("company.switched", user=user, actor=user, company=chosen.company)
    db.session.commit()
    flash(_("You now act for %(company)s. Portals use it from your next sign-in to them.",
            company=chosen.company.name), "success")
    return redirect(url_for("tools.index"))


flow = Flow(name="tools", blueprint=bp, requires=("login",))
