"""Form field helpers shared by flows; every form is a `Form` (a FlaskForm), so every form has CSRF."""

from __future__ import annotations

from functools import cache

from babel.support import Translations
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, Length

from idp.accounts.password_rules import password_errors_for
from idp.models import User


@cache
def _wtforms_messages(locale: str) -> Translations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    """The base of every form: WTForms' own messages translated from a catalogue read once per
    language (Flask-WTF reads it from disk for each request, a fifth of a sign-in page's time)."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: FlaskForm) -> Translations:
            return _wtforms_messages(str(get_locale()))


class LoginForm(Form):
    login = StringField(_l("Email or username"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    interaction = HiddenField()
    next = HiddenField()


class ConfirmForm(Form):
    """A form with nothing but its CSRF token: a confirmation button."""


class NewPasswordForm(Form):
    """A new password, typed twice."""

    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    password_confirm = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])

    def problems_for(self, user: User) -> list[str]:
        """What is wrong with the posted form for `user`'s account (its CSRF token, both fields,
        the password policy); empty when the password can be set."""
        if not self.validate_on_submit():
            return [_("Enter your new password twice.")]
        return password_errors_for(user, self.password.data, self.password_confirm.data)
