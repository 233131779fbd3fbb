"""A person's own second factors at /account/mfa: enroll an authenticator app or a security key,
rename and remove factors, renew recovery codes.

The same enrollment pages serve a sign-in whose policy requires a factor the person does not have
yet: they carry its `interaction` (a query on GET, a hidden field on POST) and, once a factor is
enrolled, resume it through idp.flows.mfa.signin. The rules are idp.security.mfa's.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.accounts import auth
from idp.companies import active_memberships
from idp.config import IdpConfig
from idp.extensions import db
from idp.flows.mfa import bp, signin
from idp.models import MfaFactor, User
from idp.models.mfa import FactorKind
from idp.pipeline import Interaction
from idp.security import mfa
from idp.security.mfa import webauthn
from idp.security.mfa.policy import covered_by_policy, has_second_factor
from idp.security.throttling import check_current_password
from idp.web.errors import error_response
from idp.web.forms import ConfirmForm, Form

NAME_MAX = 100  # MfaFactor.name


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class TotpForm(Form):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=16)], filters=[_strip])
    name = StringField(_l("Name of this factor"), validators=[DataRequired(), Length(max=NAME_MAX)],
                       filters=[_strip], default=_l("Authenticator app"))
    interaction = HiddenField(validators=[Length(max=64)])


class KeyForm(Form):
    # An id of its own: the factors page also holds a `name` field in each row's rename form.
    name = StringField(_l("Name of the key"), validators=[DataRequired(), Length(max=NAME_MAX)],
                       filters=[_strip], default=_l("Security key"), id="key_name")
    credential = HiddenField(validators=[Length(max=webauthn.MAX_CREDENTIAL_LENGTH)])
    interaction = HiddenField(validators=[Length(max=64)])


class RenameForm(Form):
    name = StringField(_l("New name"), validators=[DataRequired(), Length(max=NAME_MAX)], filters=[_strip])


class RemoveForm(Form):
    password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])


KIND_LABELS: dict[str, LazyString] = {
    FactorKind.TOTP: _l("Authenticator app"),
    FactorKind.WEBAUTHN: _l("Security key or passkey"),
}


def kind_label(factor: MfaFactor) -> str:
    """What a factor is, in words: a key that made a discoverable credential is a passkey."""
    if factor.kind == FactorKind.WEBAUTHN and factor.discoverable:
        return _("Passkey")
    return str(KIND_LABELS.get(factor.kind, factor.kind))


def _config() -> IdpConfig:
    return current_app.config["IDP"]


def _interaction() -> Interaction | None:
    """The sign-in this enrollment belongs to, when one is named and still in progress."""
    uid = request.values.get("interaction")
    return signin.interaction_for(uid[:64]) if uid else None


def _to_login() -> ResponseReturnValue:
    return auth.sign_in_redirect("mfa.factors")


def _needs_step_up(user: User) -> bool:
    return bool(mfa.usable_factors(user)) and not has_second_factor(session.get("amr", ()))


def _covered(user: User) -> bool:
    return covered_by_policy(_config(), user, active_memberships(user))


def _factors_page(user: User, *, interaction: Interaction | None = None, key_form: KeyForm | None = None,
                  error: str | None = None, status: int = 200) -> ResponseReturnValue:
    methods = _config().mfa.methods
    if key_form is None:
        key_form = KeyForm(formdata=None)
        key_form.interaction.data = interaction.uid if interaction else ""
    factors = mfa.factors_of(user)
    return render_template(
        "mfa/factors.html", user=user, factors=factors, kind_label=kind_label, methods=methods,
        recovery_left=mfa.recovery_codes_left(user), key_form=key_form, interaction=interaction, error=error,
        needs_step_up=_needs_step_up(user), name_max=NAME_MAX,
        step_up_url=url_for("mfa.step", next=url_for("mfa.factors")),
    ), status


def _enrolled(codes: list[str] | None, interaction: Interaction | None, amr: list[str],
              done: str) -> ResponseReturnValue:
    """After a new factor: the session gains what it proved; its recovery codes (a first factor's)
    are shown once, then the sign-in resumes (inside one) or the factors page comes back."""
    resume = signin.finish_enrollment(interaction.uid if interaction else None, amr)
    db.session.commit()
    if codes:
        return render_template("mfa/recovery_codes.html", codes=codes, done=done, continue_url=resume,
                               in_sign_in=interaction is not None)
    if interaction is not None:
        return redirect(resume)
    flash(done, "success")
    return redirect(url_for("mfa.factors"))


def _enrolling(kind: str) -> tuple[User | None, ResponseReturnValue | None]:
    """The person adding a factor of `kind`, or the answer instead: sign in first, a method the
    configuration does not offer (404), or the step-up (otherwise a stolen password alone could
    add its holder's own factor)."""
    user = auth.current_user()
    if user is None:
        return user, _to_login()
    if kind not in _config().mfa.methods:
        return user, error_response(404)
    return user, signin.step_up_redirect(user)


def _own_factor(factor_id: str) -> tuple[User | None, MfaFactor | None, ResponseReturnValue | None]:
    """The person, one of their own factors, or the answer instead: sign in first, the step-up
    (changing factors needs a proved one), or 404 for a factor that is not theirs."""
    user = auth.current_user()
    if user is None:
        return None, None, _to_login()
    stepping_up = signin.step_up_redirect(user)
    if stepping_up is not None:
        return user, None, stepping_up
    factor = mfa.find_factor(user, factor_id)
    return user, factor, error_response(404) if factor is None else None


@bp.get("/account/mfa")
def factors() -> ResponseReturnValue:
    """The person's factors, and the ways to add one."""
    user = auth.current_user()
    if user is None:
        return _to_login()
    return _factors_page(user, interaction=_interaction())


@bp.route("/account/mfa/totp", methods=["GET", "POST"])
def totp() -> ResponseReturnValue:
    """Enroll an authenticator app: its QR code (and the otpauth URI as text), confirmed by a first code."""
    user, refused = _enrolling(FactorKind.TOTP)
    if refused is not None:
        return refused
    interaction = _interaction()
    form = TotpForm() if request.method == "POST" else TotpForm(formdata=None)
    form.interaction.data = interaction.uid if interaction else ""
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            result = mfa.confirm_totp_enrollment(user, form.code.data, form.name.data)
            if result is not None:
                factor, codes = result
                return _enrolled(codes, interaction, mfa.amr_for_totp(),
                                 _("Your authenticator app “%(name)s” was added.", name=factor.name))
            db.session.commit()  # the failure's audit and throttle count
            error = _("This code is not correct. Check that your device's time is right and type the code "
                      "your app shows now.")
        status = 400
        form.code.data = ""
    enrollment = mfa.start_totp_enrollment(user)
    return render_template("mfa/totp.html", form=form, enrollment=enrollment, error=error,
                           interaction=interaction, digits=_config().mfa.totp.digits), status


@bp.post("/account/mfa/webauthn/options")
def webauthn_options() -> ResponseReturnValue:
    """The options of navigator.credentials.create() for a new key, as JSON."""
    user = auth.current_user()
    if user is None:
        return error_response(401, None, "login_required")
    if FactorKind.WEBAUTHN not in _config().mfa.methods:
        return error_response(404)
    if _needs_step_up(user):
        # A script asked: a redirect to an HTML page would only break its JSON.
        response = jsonify(error="step_up_required", location=url_for("mfa.step", next=url_for("mfa.factors")))
        response.status_code = 403
        return response
    return jsonify(webauthn.registration_options(user))


@bp.post("/account/mfa/webauthn")
def webauthn_register() -> ResponseReturnValue:
    """The browser's answer to the options: a new security key or passkey."""
    user, refused = _enrolling(FactorKind.WEBAUTHN)
    if refused is not None:
        return refused
    interaction = _interaction()
    form = KeyForm()
    if not form.validate_on_submit():
        return _factors_page(user, interaction=interaction, key_form=form, status=400)
    result = webauthn.finish_registration(user, form.credential.data or "", form.name.data)
    if result is None:
        db.session.commit()  # the failure's audit
        form.credential.data = ""
        return _factors_page(user, interaction=interaction, key_form=form, status=400,
                             error=_("Your security key could not be registered. Try again, or use another key."))
    factor, codes = result
    # The key was registered by the person who signed in (with their password, or with a factor the
    # step-up asked for); the ceremony's user verification is not needed for the amr then.
    amr = mfa.amr_for_webauthn(factor, False, with_password="pwd" in session.get("amr", ()))
    done = (_("Your passkey “%(name)s” was added.", name=factor.name) if factor.discoverable
            else _("Your security key “%(name)s” was added.", name=factor.name))
    return _enrolled(codes, interaction, amr, done)


@bp.post("/account/mfa/<factor_id>/rename")
def rename(factor_id: str) -> ResponseReturnValue:
    user, factor, refused = _own_factor(factor_id)
    if refused is not None:
        return refused
    form = RenameForm()
    if not form.validate_on_submit():
        messages = [message for _id, message in form.error_summary()]
        return _factors_page(user, error=" ".join(messages), status=400)
    old = factor.name
    mfa.rename_factor(user, factor, form.name.data)
    db.session.commit()
    flash(_("“%(old)s” is now called “%(new)s”.", old=old, new=factor.name), "success")
    return redirect(url_for("mfa.factors"))


@bp.route("/account/mfa/<factor_id>/remove", methods=["GET", "POST"])
def remove(factor_id: str) -> ResponseReturnValue:
    """A confirmation with the current password, then the removal (never of a covered person's last factor)."""
    user, factor, refused = _own_factor(factor_id)
    if refused is not None:
        return refused
    others = [f for f in mfa.usable_factors(user) if f.id != factor.id]
    last_required = not others and _covered(user)
    form = RemoveForm() if request.method == "POST" else RemoveForm(formdata=None)
    page = {"factor": factor, "kind_label": kind_label, "last": not others, "last_required": last_required,
            "recovery_left": mfa.recovery_codes_left(user)}
    if request.method != "POST" or last_required:
        return render_template("mfa/remove.html", form=form, **page), 409 if request.method == "POST" else 200
    if not form.validate_on_submit():
        return render_template("mfa/remove.html", form=form, **page), 400
    # Under the sign-in throttles: an open session is not a way to guess the password.
    if not check_current_password(user, form.password.data, "mfa_remove"):
        db.session.commit()
        form.add_error(form.password, _("Your current password is not correct."))
        return render_template("mfa/remove.html", form=form, **page), 400
    try:
        mfa.remove_factor(user, factor, covered=_covered(user))
    except mfa.MfaError:
        db.session.rollback()
        page["last_required"] = True
        return render_template("mfa/remove.html", form=form, **page), 409
    db.session.commit()
    if others:
        flash(_("“%(name)s” was removed.", name=factor.name), "success")
    else:
        flash(_("“%(name)s” was removed. Two-step verification is now off for your account, and your recovery "
                "codes no longer work.", name=factor.name), "success")
    return redirect(url_for("mfa.factors"))


@bp.route("/account/mfa/recovery-codes", methods=["GET", "POST"])
def recovery_codes() -> ResponseReturnValue:
    """GET asks first; the POST replaces every recovery code with new ones, shown once."""
    user = auth.current_user()
    if user is None:
        return _to_login()
    stepping_up = signin.step_up_redirect(user)
    if stepping_up is not None:
        return stepping_up
    if not mfa.usable_factors(user):
        flash(_("Recovery codes come with a second factor. Add an authenticator app or a security key first."),
              "error")
        return redirect(url_for("mfa.factors"))
    form = ConfirmForm()
    if request.method != "POST" or not form.validate_on_submit():
        return render_template("mfa/recovery_codes_confirm.html", form=form,
                               left=mfa.recovery_codes_left(user)), 200 if request.method != "POST" else 400
    codes = mfa.issue_recovery_codes(user)
    db.session.commit()
    return render_template("mfa/recovery_codes.html", codes=codes, continue_url=url_for("mfa.factors"),
                           done=_("You have new recovery codes. The previous ones no longer work."),
                           in_sign_in=False)
