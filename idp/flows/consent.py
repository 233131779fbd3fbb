"""Consent (step `consent`, order 90): a person allows a client the scopes it asks for, once.

Off for first-party clients; on where a client's configuration says `require_consent: true`,
and whenever the client sends prompt=consent. What is asked is the interaction's
`consent_scopes`: the scopes requested and those that carry claims requested one by one (the
`claims` parameter), so that no claim leaves without the person having seen its scope on this
page. The answer is remembered per user and client (idp.accounts.consents); a refusal is
recorded as `denied`, which the protocol turns into access_denied.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField

from idp import audit, pipeline
from idp.accounts import auth, consents
from idp.extensions import db
from idp.pipeline import Flow, Interaction, Step
from idp.web.errors import error_response
from idp.web.forms import Form
from idp.web.i18n import current_language

bp = Blueprint("consent", __name__)

SCOPE_LABELS = {
    "openid": _l("Know who you are"),
    "profile": _l("Your name, username and language"),
    "email": _l("Your email address"),
    "phone": _l("Your phone number"),
    "offline_access": _l("Stay connected when you are away"),
    "companies": _l("Your companies and your role in each"),
}


def consent_needed(interaction: Interaction) -> str | None:
    """Needed under prompt=consent, or for a client that requires consent not yet given for these scopes."""
    if interaction.user is None or interaction.client is None:
        return None
    if "consent" in interaction.done:
        return None
    if "consent" in interaction.prompts:
        return "prompt_consent"
    if not interaction.client.require_consent:
        return None
    if consents.has_consent(interaction.user.id, interaction.client_id, interaction.consent_scopes):
        return None
    return "not_granted"


class ConsentForm(Form):
    interaction = HiddenField()
    decision = HiddenField()


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> ResponseReturnValue:
    interaction = pipeline.load(request.values.get("interaction"))
    user = auth.current_user()
    if interaction is None or user is None:
        return error_response(400, _("This sign-in has expired. Please go back to the application and start again."))
    client = current_app.config["IDP"].client(interaction.client_id)
    if client is None:
        return error_response(400)
    form = ConsentForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return error_response(400)
        scopes = interaction.consent_scopes
        if request.form.get("decision") == "allow":
            consents.remember(user.id, client.client_id, scopes)
            audit.record("consent.granted", user=user, client_id=client.client_id, scopes=scopes)
            db.session.commit()
            return redirect(pipeline.complete(interaction.uid, "consent", scopes=scopes))
        audit.record("consent.refused", user=user, client_id=client.client_id)
        db.session.commit()
        return redirect(pipeline.complete(interaction.uid, "consent", denied=True))
    name = client.name.get(current_language()) if client.name else client.client_id
    labels = [SCOPE_LABELS[s] for s in interaction.consent_scopes if s in SCOPE_LABELS]
    return render_template("consent/consent.html", form=form, interaction=interaction, client_name=name,
                           labels=labels)


flow = Flow(
    name="consent",
    blueprint=bp,
    steps=(Step("consent", 90, "consent.consent", consent_needed, error="consent_required"),),
    requires=("login",),
)
