"""Form field helpers shared by flows; every form is a FlaskForm, so every form has CSRF."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    login = StringField(_l("Email or username"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    interaction = HiddenField()
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: a confirmation button."""
