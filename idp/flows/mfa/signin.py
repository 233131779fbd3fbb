"""The sign-in step `mfa` (order 40), the step-up page outside a portal's sign-in, and the passkey
sign-in of the login page.

The step is needed when the security team's policy covers this sign-in (idp.security.mfa.policy:
the person, the company it acts for, the portal) or the client asks for `urn:portail:acr:mfa`, and
the session has not proved a second factor. A person without one is sent through enrollment
(idp.flows.mfa.manage) inside the same interaction. The company step comes later (order 50), and
every step is checked again on each resume: a selector that depends on the company chosen there
asks for the factor once it is chosen.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField
from wtforms.validators import Length

from idp import audit, pipeline
from idp.accounts import auth
from idp.companies import active_memberships, chosen_company_id
from idp.extensions import db
from idp.flows.mfa import bp
from idp.models import User
from idp.models.mfa import FactorKind
from idp.models.users import UserStatus
from idp.pipeline import Flow, Interaction, Step
from idp.security import mfa
from idp.security.mfa import webauthn
from idp.security.mfa.policy import has_second_factor, requested_by_client, required_by_policy
from idp.web.errors import error_response
from idp.web.forms import Form
from idp.web.redirects import safe_next

# The step's proof lives in the session (its amr), where every later sign-in of this SSO session
# finds it; the step itself records only that it was passed.
STEP = "mfa"


class CodeForm(Form):
    code = StringField(_l("Code"), validators=[Length(max=16)])
    recovery_code = StringField(_l("Recovery code"), validators=[Length(max=64)])
    interaction = HiddenField(validators=[Length(max=64)])
    next = HiddenField(validators=[Length(max=2048)])


class AssertionForm(Form):
    credential = HiddenField(validators=[Length(max=webauthn.MAX_CREDENTIAL_LENGTH)])
    interaction = HiddenField(validators=[Length(max=64)])
    next = HiddenField(validators=[Length(max=2048)])


def _config():  # noqa: ANN202 - the IdpConfig
    return current_app.config["IDP"]


def policy_requires(interaction: Interaction) -> bool:
    """Whether `mfa.required_for` covers this sign-in (its memberships read only when a selector needs them)."""
    config = _config()
    if not config.mfa.required_for:
        return False
    memberships = active_memberships(interaction.user)
    return required_by_policy(config, interaction.user, memberships,
                              chosen_company_id(interaction, memberships), interaction.client_id)


def mfa_needed(interaction: Interaction) -> str | None:
    user = interaction.user
    if user is None or has_second_factor(interaction.session.amr):
        return None
    if not (requested_by_client(interaction.params) or policy_requires(interaction)):
        return None
    return "mfa_required" if mfa.usable_factors(user) else "mfa_enrollment"


def interaction_for(uid: str | None) -> Interaction | None:
    """The sign-in in progress named `uid`, for the signed-in person, or None."""
    interaction = pipeline.load(uid) if uid else None
    if interaction is not None:
        interaction.user = auth.current_user()
        interaction.session = auth.session_facts()
    return interaction


def finish_enrollment(uid: str | None, amr: list[str]) -> str:
    """A factor was just enrolled (and so proved): the session gains its methods; the address to
    resume the sign-in `uid`, or the factors page outside one."""
    auth.add_amr(amr)
    if uid and pipeline.load(uid) is not None:
        return pipeline.complete(uid, STEP)
    return url_for("mfa.factors")


def step_up_redirect(user: User) -> Response | None:
    """To the step-up page and back here, when `user` has a factor the session has not proved;
    None when there is nothing to prove. A POST comes back to the factors page."""
    if not mfa.usable_factors(user) or has_second_factor(session.get("amr", ())):
        return None
    target = quote(request.path, safe="/:@!$&'()*+,;=~") if request.method == "GET" else url_for("mfa.factors")
    return redirect(url_for("mfa.step", next=target))


def _after_proof(amr: list[str], interaction: Interaction | None, next_url: str | None) -> Response:
    auth.add_amr(amr)
    db.session.commit()
    if interaction is not None:
        return redirect(pipeline.complete(interaction.uid, STEP))
    return redirect(safe_next(next_url) or url_for("mfa.factors"))


def _render(user: User, interaction: Interaction | None, next_url: str | None, form: CodeForm | None = None,
            error: str | None = None, status: int = 200) -> ResponseReturnValue:
    factors = mfa.usable_factors(user)
    if not factors:
        return render_template("mfa/step_enroll.html", interaction=interaction, methods=_config().mfa.methods,
                               next=next_url), status
    form = form or CodeForm(formdata=None)
    form.interaction.data = interaction.uid if interaction else ""
    form.next.data = next_url or ""
    assertion = AssertionForm(formdata=None)
    assertion.interaction.data = form.interaction.data
    assertion.next.data = form.next.data
    return render_template(
        "mfa/step.html", form=form, assertion=assertion, interaction=interaction, error=error,
        has_totp=any(f.kind == FactorKind.TOTP for f in factors),
        has_webauthn=any(f.kind == FactorKind.WEBAUTHN for f in factors),
        recovery_left=mfa.recovery_codes_left(user),
    ), status


def _context() -> tuple[User | None, Interaction | None, str | None]:
    """The signed-in person, the sign-in in progress (if any), and where to go after a step-up."""
    user = auth.current_user()
    interaction = interaction_for(request.values.get("interaction"))
    next_url = safe_next(request.values.get("next"))
    return user, interaction, next_url



@bp.route("/mfa", methods=["GET", "POST"])
def step() -> ResponseReturnValue:
    """A second factor: for a sign-in in progress (`interaction`), or a step-up (`next`)."""
    user, interaction, next_url = _context()
    if user is None:
        if interaction is not None:
            return redirect(interaction.return_to)  # the login step comes first
        return auth.sign_in_redirect("mfa.factors")
    if interaction is not None and mfa_needed(interaction) is None:
        return redirect(interaction.return_to)
    if interaction is None and has_second_factor(session.get("amr", ())):
        return redirect(next_url or url_for("mfa.factors"))
    if request.method != "POST":
        return _render(user, interaction, next_url)
    form = CodeForm()
    if not form.validate_on_submit():
        return _render(user, interaction, next_url, form, status=400)
    code, recovery = (form.code.data or "").strip(), (form.recovery_code.data or "").strip()
    if code:
        factor = mfa.verify_totp(user, code)
        if factor is not None:
            return _after_proof(mfa.amr_for_totp(), interaction, next_url)
    elif recovery:
        if mfa.use_recovery_code(user, recovery):
            return _after_proof(["otp", "mfa"], interaction, next_url)
    else:
        db.session.rollback()
        return _render(user, interaction, next_url, form, _("Enter a code."), 400)
    # Wrong, replayed or throttled: one answer (the throttle's start is not shown).
    db.session.commit()
    form.code.data = form.recovery_code.data = ""
    return _render(user, interaction, next_url, form,
                   _("This code is not correct. Check your device's time, or use another method."), 401)


@bp.post("/mfa/webauthn/options")
def assertion_options() -> ResponseReturnValue:
    user = auth.current_user()
    if user is None:
        return error_response(401, None, "login_required")
    return jsonify(webauthn.authentication_options(webauthn.SECOND_FACTOR, user))


@bp.post("/mfa/webauthn")
def assertion() -> ResponseReturnValue:
    user, interaction, next_url = _context()
    if user is None:
        return auth.sign_in_redirect("mfa.factors")
    form = AssertionForm()
    # After a passkey sign-in without user verification, the same kind of proof counts only with it.
    with_password = "pwd" in session.get("amr", ())
    verified = webauthn.verify_assertion(webauthn.SECOND_FACTOR, user, form.credential.data or "",
                                         require_user_verification=not with_password) \
        if form.validate_on_submit() else None
    if verified is None:
        db.session.commit()
        return _render(user, interaction, next_url, None,
                       _("Your security key could not be checked. Try again, or use another method."), 401)
    amr = mfa.amr_for_webauthn(verified.factor, verified.user_verified, with_password=with_password)
    return _after_proof(amr, interaction, next_url)


# The passkey sign-in of the login page: a discoverable credential names its owner.


@bp.post("/login/passkey/options")
def passkey_options() -> ResponseReturnValue:
    if not passkeys_enabled():
        return error_response(404)
    return jsonify(webauthn.authentication_options(webauthn.PASSKEY, None))


@bp.post("/login/passkey")
def passkey() -> ResponseReturnValue:
    if not passkeys_enabled():
        return error_response(404)
    form = AssertionForm()
    interaction = pipeline.load(request.values.get("interaction"))
    verified = webauthn.verify_assertion(webauthn.PASSKEY, None, form.credential.data or "") \
        if form.validate_on_submit() else None
    owner = verified.factor.user if verified is not None else None
    if owner is None or owner.status != UserStatus.ACTIVE:
        if owner is not None:
            audit.record("user.sign_in_refused", user=owner, reason=owner.status)
        db.session.commit()
        return render_template("mfa/passkey_failed.html", interaction=interaction), 401
    auth.sign_in(owner, mfa.amr_for_webauthn(verified.factor, verified.user_verified, with_password=False))
    db.session.commit()
    if interaction is not None:
        return redirect(auth.resume_after_sign_in(interaction.uid))
    return redirect(safe_next(form.next.data) or "/")


def passkeys_enabled() -> bool:
    settings = _config().mfa
    return settings.passkey_sign_in and "webauthn" in settings.methods


def build_flow(blueprint: Blueprint) -> Flow:
    @blueprint.app_context_processor
    def passkey_sign_in() -> dict[str, object]:
        # The login page offers "Sign in with a passkey" where the flow and the method are on.
        return {"passkey_sign_in": passkeys_enabled(), "passkey_form": AssertionForm}

    return Flow(name="mfa", blueprint=blueprint,
                steps=(Step(STEP, 40, "mfa.step", mfa_needed),), requires=("login",))
