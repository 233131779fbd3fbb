"""Accepting an invitation at /invitations/<token>: create the account, or sign in and accept."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp import audit, pipeline
from idp.accounts import auth
from idp.accounts.password_rules import personal_words, policy_summary
from idp.companies import invitations
from idp.extensions import db
from idp.models import Company, Invitation, User
from idp.models.users import UserStatus, email_key
from idp.pipeline import Flow, Interaction
from idp.web.forms import Form, check_new_password
from idp.web.i18n import current_language

bp = Blueprint("invitation", __name__)


class NewAccountForm(Form):
    given_name = StringField(_l("Given name"), validators=[DataRequired(), Length(max=100)])
    family_name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    password_confirm = PasswordField(_l("Confirm the password"), validators=[DataRequired(), Length(max=1024)])
    interaction = HiddenField()


class AcceptForm(Form):
    interaction = HiddenField()


def _invalid() -> ResponseReturnValue:
    return render_template("invitation/invalid.html"), 410


def _interaction() -> Interaction | None:
    return pipeline.load(request.values.get("interaction"))


def _done(invitation: Invitation, interaction: Interaction | None, signed_in: bool) -> ResponseReturnValue:
    company = db.session.get(Company, invitation.company_id)
    flash(_("You are now a member of %(company)s.", company=company.name if company else ""), "success")
    if interaction is None:
        return redirect(url_for("home.index"))
    if signed_in:
        return redirect(auth.resume_after_sign_in(interaction.uid))
    # Accepting is no step of the pipeline: the portal's sign-in simply resumes.
    return redirect(interaction.return_to)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """GET only shows a page (mail scanners follow links); the membership is made by a POST."""
    invitation = invitations.find_pending(token)
    if invitation is None:
        return _invalid()
    company = db.session.get(Company, invitation.company_id)
    interaction = _interaction()
    uid = interaction.uid if interaction is not None else None
    invited = User.find_by_email(invitation.email)
    current = auth.current_user()
    if current is not None and email_key(current.email) != email_key(invitation.email):
        audit.record("invitation.refused", user=current, company=company, invitation=invitation.id,
                     reason="other_account")
        db.session.commit()
        return render_template("invitation/wrong_account.html", invitation=invitation, company=company,
                               user=current), 403
    if invited is None or (invited.status == UserStatus.PENDING and current is None):
        return _new_account(token, invitation, company, invited, interaction)
    if current is None:
        # Back here after signing in, with the portal's sign-in still in hand.
        return render_template("invitation/sign_in.html", invitation=invitation, company=company,
                               next=url_for("invitation.accept", token=token, interaction=uid))
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            invitations.accept(invitation, current)
        except invitations.InvitationError:
            db.session.rollback()
            return _invalid()
        db.session.commit()
        return _done(invitation, interaction, signed_in=False)
    form.interaction.data = uid or ""
    return render_template("invitation/accept.html", form=form, invitation=invitation, company=company,
                           token=token, role=_role_name(invitation))


def _role_name(invitation: Invitation) -> str:
    role = current_app.config["IDP"].roles.get(invitation.role)
    return role.get(current_language()) if role is not None else invitation.role


def _new_account(token: str, invitation: Invitation, company: Company | None, pending: User | None,
                 interaction: Interaction | None) -> ResponseReturnValue:
    """The invited address has no account (or only an unconfirmed one): names and a password make it."""
    form = NewAccountForm()
    failed = False
    if request.method == "POST":
        valid = form.validate_on_submit()
        # Every problem at once, each beside its field: the policy too when a name is missing.
        if not form.password.errors and not form.password_confirm.errors:
            check_new_password(form, personal_words(invitation.email, form.given_name.data, form.family_name.data))
        failed = not valid or form.has_errors
        if not failed:
            user = pending or User(email=invitation.email, locale=invitation.locale or current_language())
            user.given_name = form.given_name.data.strip()
            user.family_name = form.family_name.data.strip()
            user.password_hash = current_app.extensions["idp.hasher"].hash(form.password.data)
            # The link reached the address: it counts as confirmed.
            user.email_verified = True
            user.status = UserStatus.ACTIVE
            db.session.add(user)
            try:
                db.session.flush()
                audit.record("user.created", user=user, by="invitation")
                invitations.accept(invitation, user)
            except (invitations.InvitationError, IntegrityError):  # a racing submission won
                db.session.rollback()
                return _invalid()
            auth.sign_in(user, ["pwd"])
            db.session.commit()
            return _done(invitation, interaction, signed_in=True)
    else:
        form.interaction.data = interaction.uid if interaction is not None else ""
    summary = policy_summary(current_app.config["IDP"].password_policy)
    return render_template("invitation/new_account.html", form=form, invitation=invitation,
                           company=company, token=token, summary=summary,
                           role=_role_name(invitation)), 400 if failed else 200


flow = Flow(name="invitation", blueprint=bp, requires=("login",))
