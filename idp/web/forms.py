"""Form field helpers shared by flows; every form is a `Form` (a FlaskForm), so every form has CSRF.

A form carries its own errors: each beside its field (WTForms' `field.errors`, said with the
field's label and limit), the rest in `form_errors`; templates/forms/fields.html shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from babel.support import Translations
from flask import Flask
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from jinja2.utils import Namespace
from wtforms import Field, FieldList, FormField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation, ValidationError

from idp.accounts.password_rules import new_password_problems, personal_words_of
from idp.models import User
from idp.text import has_control_characters


@cache
def _wtforms_messages(locale: str) -> Translations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    """The base of every form: WTForms' own messages translated from a catalogue read once per
    language (Flask-WTF reads it from disk for each request, a fifth of a sign-in page's time),
    and no control characters in any text field (`control_characters_error`)."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: FlaskForm) -> Translations:
            return _wtforms_messages(str(get_locale()))

    def validate(self, extra_validators: dict[str, Any] | None = None) -> bool:
        valid = super().validate(extra_validators)
        # Every text field of every form, sub-forms' too, without a line in the form: one added
        # later cannot forget it.
        for field, label in labelled_fields(self, hidden=True):
            refused = control_characters_error(field, label)
            if refused is not None:
                self.add_error(field, refused)
                valid = False
        if not valid:
            for field, label in labelled_fields(self):
                explain_errors(self, field, label)
        return valid

    def add_error(self, field: Field | None, message: str) -> None:
        """Put `message` beside `field`, or above the form when it concerns no one field."""
        if field is None:
            self.form_errors.append(message)
        elif isinstance(field.errors, list):
            field.errors.append(message)
        else:  # a tuple until the field is validated
            field.errors = [*field.errors, message]

    @property
    def has_errors(self) -> bool:
        return bool(self.error_summary())

    def error_summary(self, extra: str | list[str] | None = None) -> list[tuple[str | None, str]]:
        """Every message of the form, in the order of the page, as (id of the field, message);
        the id is None for a message about no one field. `extra` are messages a view passes
        beside the form (a throttled request, a wrong password)."""
        loose = [extra] if isinstance(extra, str) else extra or []
        items: list[tuple[str | None, str]] = [(None, str(m)) for m in loose]
        items += [(None, str(m)) for m in self.form_errors]
        for field, _label in labelled_fields(self, hidden=True):
            visible = field.type not in HIDDEN_TYPES
            items += [(field.id if visible else None, str(m)) for m in field.errors if isinstance(m, str)]
        return items


def control_characters_error(field: Field, label: str) -> str | None:
    """The validator the base Form runs on every field: the message for a text that holds control
    characters (idp.text: CR, LF, NUL, ESC, DEL, C1, U+2028/U+2029, bidi overrides), else None.

    A textarea may hold line breaks and tabs. A password is left as typed: it is never shown nor
    put in a header, and refusing one at sign-in would lock its owner out. The CSRF token has
    its own check.
    """
    if isinstance(field, PasswordField) or field.type == "CSRFTokenField" or not isinstance(field.data, str):
        return None
    multiline = isinstance(field, TextAreaField)
    if not has_control_characters(field.data, multiline=multiline):
        return None
    if multiline:
        return _("%(field)s: control characters other than line breaks and tabs are not allowed.", field=label)
    return _("%(field)s: line breaks, tabs and other control characters are not allowed.", field=label)


def control_character_errors(form: FlaskForm) -> list[str]:
    """The form's refusals of control characters, each naming its field: for a page that shows one
    message for the whole form rather than each beside its field."""
    return [message for field, label in labelled_fields(form, hidden=True)
            if (message := control_characters_error(field, label)) is not None]


# Fields a person never sees: a message about one goes above the form, with no link.
HIDDEN_TYPES = frozenset({"HiddenField", "CSRFTokenField"})


def labelled_fields(form: FlaskForm, *, hidden: bool = False) -> Iterator[tuple[Field, str]]:
    """The form's fields, those inside lists of sub-forms too, each with the label that names it
    in a message ("First name (User 2)" inside the second entry of a list labelled "User")."""
    for field in form:
        if isinstance(field, FieldList):
            for number, entry in enumerate(field.entries, start=1):
                inner = entry.form if isinstance(entry, FormField) else (entry,)
                for sub in inner:
                    if hidden or sub.type not in HIDDEN_TYPES:
                        yield sub, _("%(field)s (%(entry)s %(number)d)", field=sub.label.text,
                                     entry=field.label.text, number=number)
        elif isinstance(field, FormField):
            yield from labelled_fields(field.form, hidden=hidden)
        elif hidden or field.type not in HIDDEN_TYPES:
            yield field, str(field.label.text)


def explain_errors(form: FlaskForm, field: Field, label: str) -> None:
    """Say WTForms' required and length messages with the field's label and its limit
    ("First name: at most 100 characters."); any other message is kept as it is."""
    if not field.errors:
        return
    raised = list(field.errors)
    ours = {}
    for validator in field.validators:
        if isinstance(validator, (DataRequired, InputRequired)):
            message = _("%(field)s: this field is required.", field=label)
        elif isinstance(validator, Length):
            message = _length_message(label, validator)
        else:
            continue
        # Asked again for the very message it raised, so that ours replaces that one only.
        try:
            validator(form, field)
        except (ValidationError, StopValidation) as exc:
            if exc.args and exc.args[0]:
                ours[exc.args[0]] = message
    # DataRequired empties field.errors when it fails: the list is set back from its copy.
    field.errors[:] = [ours.get(message, message) for message in raised]


def _length_message(label: str, validator: Length) -> str:
    if validator.min == -1 or validator.min <= 0:
        return ngettext("%(field)s: at most %(num)d character.", "%(field)s: at most %(num)d characters.",
                        validator.max, field=label)
    if validator.max == -1:
        return ngettext("%(field)s: at least %(num)d character.", "%(field)s: at least %(num)d characters.",
                        validator.min, field=label)
    return _("%(field)s: between %(min)d and %(max)d characters.", field=label, min=validator.min,
             max=validator.max)


def check_new_password(form: FlaskForm, personal: tuple[str, ...]) -> bool:
    """Whether the form's `password` and `password_confirm` make a usable password; each
    problem goes beside its field (the policy beside the first, a mismatch beside the second)."""
    problems = new_password_problems(form.password.data or "", form.password_confirm.data or "", personal=personal)
    for name, message in problems:
        form.add_error(form[name], message)
    return not problems


def init_app(app: Flask) -> None:
    # Set by the error summary while the page's content renders, read by base.html's <title>
    # afterwards: the title says "Error:" exactly when the page shows an error summary.
    app.context_processor(lambda: {"page_errors": Namespace(shown=False)})


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
    password_confirm = PasswordField(_l("Confirm the password"), validators=[DataRequired(), Length(max=1024)])

    def validate_for(self, user: User) -> bool:
        """Whether the posted form can set `user`'s password (its CSRF token, both fields, the
        password policy); each problem goes beside its field."""
        if not self.validate_on_submit():
            return False
        return check_new_password(self, personal_words_of(user))
