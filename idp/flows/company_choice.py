"""The company a sign-in acts for (step `company`) and who may use a portal (step `portal_access`).

`company` (order 50): a person with several active memberships picks one. The view chooses
without a page when the client's `company` parameter names one of them (under prompt=none the
step is skipped and idp.companies.chosen_company_id reads the hint), when the portal admits
only one of the memberships, or when the session already holds an active company (picked
earlier in this SSO session, or set from /tools) unless the client asked for
`prompt=select_account`. The choice is recorded as
`done["company"]["company_id"]` (a Company.public_id), which the claims read.
`portal_access` (order 60): a portal whose configuration lists `roles` admits only a person
whose role in the chosen company is one of them; anyone else gets a "no access" page and
never a token. A portal without `roles` admits everyone who signs in.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import HiddenField, StringField
from wtforms.validators import Length

from idp import audit, pipeline
from idp.accounts import auth
from idp.accounts.auth import SESSION_COMPANY
from idp.companies import active_memberships, chosen_company_id, find_membership, role_allowed
from idp.extensions import db
from idp.models import Membership
from idp.pipeline import Flow, Interaction, Step
from idp.web.errors import error_response
from idp.web.forms import Form
from idp.web.i18n import current_language

bp = Blueprint("company_choice", __name__)


class ChoiceForm(Form):
    company_id = StringField(validators=[Length(max=64)])
    interaction = HiddenField()


def client_roles(client_id: str) -> list[str] | None:
    """The `roles` of the portal's configuration (None: everyone who signs in)."""
    client = current_app.config["IDP"].client(client_id)
    return None if client is None else client.roles


def _choices(interaction: Interaction, memberships: list[Membership]) -> list[Membership]:
    roles = client_roles(interaction.client_id)
    return [m for m in memberships if role_allowed(roles, m)]


def company_needed(interaction: Interaction) -> str | None:
    """Needed when the person has several active memberships this portal admits and none is chosen."""
    if interaction.user is None:
        return None
    memberships = active_memberships(interaction.user)
    if len(memberships) < 2:
        return None
    proven = (interaction.done.get("company") or {}).get("company_id")
    if find_membership(memberships, proven) is not None:
        return None
    if find_membership(memberships, interaction.params.get("company")) is not None:
        # The view records the hint without showing a page, so the claims find it in
        # done["company"]; under prompt=none nothing can be recorded and chosen_company_id()
        # reads the hint itself.
        return None if "none" in interaction.prompts else "company_hint"
    choices = _choices(interaction, memberships)
    if "none" in interaction.prompts and find_membership(choices, interaction.session.company) is not None:
        # As the view picks it without a page (only among what this portal admits: a company it
        # refuses is no answer, the person could pick another); nothing is recorded under
        # prompt=none, so chosen_company_id() reads the session's company.
        return None
    # With no admitted membership there is nothing to choose: portal_access refuses.
    if not choices:
        return None
    return "several_companies"


def portal_access_needed(interaction: Interaction) -> str | None:
    """A reason when the portal lists roles and the person's role in the chosen company is not one."""
    roles = client_roles(interaction.client_id)
    if roles is None or interaction.user is None:
        return None
    memberships = active_memberships(interaction.user)
    if not memberships:
        return "no_company"
    chosen = find_membership(memberships, chosen_company_id(interaction, memberships))
    if chosen is None:
        return None if any(role_allowed(roles, m) for m in memberships) else "role_not_allowed"
    return None if role_allowed(roles, chosen) else "role_not_allowed"


def _load_interaction() -> Interaction | None:
    interaction = pipeline.load(request.values.get("interaction"))
    if interaction is not None:
        interaction.user = auth.current_user()
    return interaction


def _portal_name(client_id: str) -> str:
    client = current_app.config["IDP"].client(client_id)
    if client is None or client.name is None:
        return client_id
    return client.name.get(current_language())


@bp.route("/companies/choose", methods=["GET", "POST"])
def choose() -> ResponseReturnValue:
    interaction = _load_interaction()
    if interaction is None or interaction.user is None:
        return error_response(400, _("This sign-in has expired. Please go back to your portal and try again."))
    memberships = active_memberships(interaction.user)
    choices = _choices(interaction, memberships)
    if company_needed(interaction) is None:
        return redirect(interaction.return_to)
    form = ChoiceForm()
    hinted = find_membership(memberships, interaction.params.get("company"))
    if hinted is not None:
        return redirect(pipeline.complete(interaction.uid, "company", company_id=hinted.company.public_id))
    if request.method != "POST":  # GET, or HEAD: the same page
        # Only one company is admitted by this portal: nothing to ask.
        remembered = choices[0] if len(choices) == 1 else find_membership(choices, session.get(SESSION_COMPANY))
        if remembered is not None and (len(choices) == 1 or "select_account" not in interaction.prompts):
            return redirect(pipeline.complete(interaction.uid, "company", company_id=remembered.company.public_id))
        form.interaction.data = interaction.uid
        return _render(form, interaction, choices)
    picked = find_membership(choices, form.company_id.data) if form.validate_on_submit() else None
    if picked is None:
        form.interaction.data = interaction.uid
        form.add_error(form.company_id, _("Choose one of your companies."))
        return _render(form, interaction, choices, status=400)
    session[SESSION_COMPANY] = picked.company.public_id
    return redirect(pipeline.complete(interaction.uid, "company", company_id=picked.company.public_id))


def _render(form: ChoiceForm, interaction: Interaction, choices: list[Membership], error: str | None = None,
            status: int = 200) -> ResponseReturnValue:
    selected = session.get(SESSION_COMPANY)
    return render_template("company_choice/choose.html", form=form, interaction=interaction, choices=choices,
                           error=error, selected=selected, portal=_portal_name(interaction.client_id),
                           roles=current_app.config["IDP"].roles, language=current_language()), status


@bp.get("/companies/no-access")
def denied() -> ResponseReturnValue:
    """The portal does not admit this person: a clear page, and no token."""
    interaction = _load_interaction()
    if interaction is None or interaction.user is None:
        return error_response(400, _("This sign-in has expired. Please go back to your portal and try again."))
    reason = portal_access_needed(interaction)
    if reason is None:
        # Access was granted meanwhile (or the company changed): resume, where every check runs again.
        return redirect(interaction.return_to)
    audit.record("portal.access_refused", user=interaction.user, client_id=interaction.client_id, reason=reason)
    db.session.commit()
    flows = current_app.extensions["idp.flows"]
    return render_template("company_choice/denied.html", portal=_portal_name(interaction.client_id),
                           reason=reason, can_join="company_join" in flows, has_tools="tools" in flows), 403


flow = Flow(
    name="company_choice",
    blueprint=bp,
    steps=(
        Step("company", 50, "company_choice.choose", company_needed),
        # Interactive: the page says "no access to this portal"; under prompt=none the client gets
        # access_denied. Never satisfied by the person, so never a token.
        Step("portal_access", 60, "company_choice.denied", portal_access_needed, error="access_denied"),
    ),
    requires=("login",),
)
