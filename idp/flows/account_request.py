"""Account request (document 001): a customer's key contact asks for web accounts for N people.

/companies/account-request is public: the customer number must be an active customer of the
directory, each person gets a role, and the terms must be accepted. Operators decide in
/admin/operator (or the configuration approves at once); idp.companies.account_requests holds the rules.
The number of people is chosen first (?people=N), so the page needs no script.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response
from wtforms import BooleanField, FieldList, FormField, StringField
from wtforms import Form as SubForm
from wtforms.validators import DataRequired, Length, Optional

from idp import companies
from idp.accounts import AccountError, check_email
from idp.companies import account_requests
from idp.extensions import limiter
from idp.models.users import email_key
from idp.pipeline import Flow
from idp.web.forms import Form
from idp.web.i18n import current_language

bp = Blueprint("account_request", __name__)


class PersonForm(SubForm):
    given_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)])
    family_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    role = StringField(_l("Role"), validators=[DataRequired(), Length(max=64)])


class AccountRequestForm(Form):
    customer_number = StringField(_l("Customer number"), validators=[DataRequired(), Length(max=64)])
    company_name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=300)])
    city = StringField(_l("City"), validators=[DataRequired(), Length(max=100)])
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=32)])
    contact_given_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)])
    contact_family_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    contact_email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    # The label names each entry in messages: "First name (User 2): ...".
    people = FieldList(FormField(PersonForm), _l("User"), min_entries=1, max_entries=account_requests.MAX_PEOPLE)
    terms = BooleanField(validators=[Optional()])


def _people_count() -> int:
    raw = request.args.get("people", "1")
    # isdecimal, not isdigit: int() refuses "²". More than three digits is above the maximum
    # anyway, and int() is never handed thousands of them.
    if not raw.isdecimal():
        return 1
    count = int(raw) if len(raw) <= 3 else account_requests.MAX_PEOPLE
    return max(1, min(count, account_requests.MAX_PEOPLE))


def _render(form: AccountRequestForm, errors: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    config = current_app.config["IDP"]
    language = current_language()
    return render_template("account_request/form.html", form=form, errors=errors or [],
                           roles=[(key, text.get(language)) for key, text in config.roles.items()],
                           max_people=account_requests.MAX_PEOPLE), status


def _breached(_limit: RequestLimit) -> Response:
    return make_response(_render(AccountRequestForm(), [_("Too many requests. Please try again later.")], 429))


def _checked_people(form: AccountRequestForm) -> list[dict[str, Any]] | None:
    """The cleaned list of people once the whole form is right; otherwise None, with every
    problem at once beside its field."""
    valid = form.validate()
    if not form.terms.data:
        form.add_error(form.terms, _("You must accept the terms of use."))
    if not form.customer_number.errors:
        company = companies.find_company(form.customer_number.data or "")
        if company is None or not company.active:
            form.add_error(form.customer_number, _("No active customer account has this customer number."))
    if not form.contact_email.errors:
        try:
            check_email(form.contact_email.data or "")
        except AccountError:
            form.add_error(form.contact_email, _("The key contact's email address is not valid."))
    people, seen = [], set()
    roles = current_app.config["IDP"].roles
    for number, entry in enumerate(form.people.entries, start=1):
        if entry.role.data not in roles:
            # Said once, in place of "required": the radio buttons leave nothing else to get wrong.
            entry.role.errors[:] = [_("User %(number)d: choose what this user is authorized to do.", number=number)]
        if entry.email.errors:
            continue
        try:
            email = check_email(entry.email.data or "")
        except AccountError:
            form.add_error(entry.email, _("User %(number)d: the email address is not valid.", number=number))
            continue
        if email_key(email) in seen:
            form.add_error(entry.email, _("User %(number)d: this email address is given twice.", number=number))
        seen.add(email_key(email))
        people.append({"given_name": (entry.given_name.data or "").strip(),
                       "family_name": (entry.family_name.data or "").strip(), "email": email,
                       "role": entry.role.data})
    return people if valid and not form.has_errors else None


@bp.route("/companies/account-request", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP"].throttling.account_request_per_ip, key_func=get_remote_address,
               methods=["POST"], on_breach=_breached, scope="account-request-ip")
def form() -> ResponseReturnValue:
    if request.method != "POST":  # GET, or HEAD: the same page
        return _render(AccountRequestForm(people=[{}] * _people_count()))
    form = AccountRequestForm()
    people = _checked_people(form)
    if people is None:
        return _render(form, status=400)
    filed = account_requests.file(
        customer_number=companies.find_company(form.customer_number.data).external_id,
        company_name=form.company_name.data.strip(), address=form.address.data.strip(),
        city=form.city.data.strip(), postal_code=form.postal_code.data.strip(), phone=form.phone.data.strip(),
        contact_given_name=form.contact_given_name.data.strip(),
        contact_family_name=form.contact_family_name.data.strip(),
        contact_email=check_email(form.contact_email.data), people=people, locale=current_language())
    return render_template("account_request/sent.html", approved=filed.status == "approved",
                           count=len(people))


flow = Flow(name="account_request", blueprint=bp, requires=("login", "forgot_password"))
