"""Demo data: two companies and people in every role, so a newcomer can sign in at once."""

from __future__ import annotations

from flask import current_app

from idp.extensions import db
from idp.models import ApiKey, Company, Membership, User
from idp.security import api_keys

DEMO_PASSWORD = "Portail-Demo-2026!"  # noqa: S105 - the demo's published password

COMPANIES = [
    # external id, name, city, member code, branches
    ("C-10001", "Électricité Durand SARL", "Lyon", "DURAND-7731", "Lyon;Villeurbanne"),
    ("C-10002", "Garage Martin & Fils", "Nantes", "MARTIN-4420", None),
]
# Document 003: a member limited to an address (here one the demo is never reached from, so that
# signing in as them shows the refusal page) and a member with a key for the REST API.
RESTRICTED = ("prices@durand.example", "192.0.2.0/24", "Villeurbanne")
KEY_HOLDER = ("buyer@durand.example", "C-10001", "ERP sync")  # with the first of api_keys.scopes

PEOPLE = [
    # email, given name, family name, username, company, role, admin
    ("admin@durand.example", "Claire", "Durand", "cdurand", "C-10001", "order", True),
    ("buyer@durand.example", "Hugo", "Petit", "hpetit", "C-10001", "order", False),
    ("junior@durand.example", "Léa", "Moreau", None, "C-10001", "order_for_approval", False),
    ("prices@durand.example", "Noé", "Garnier", None, "C-10001", "prices_only", False),
    ("admin@martin.example", "Paul", "Martin", "pmartin", "C-10002", "order", True),
    ("workshop@martin.example", "Inès", "Roux", None, "C-10002", "order_for_approval", False),
]


def seed() -> list[str]:
    """Create what is missing (it can run again); returns lines to print."""
    hasher = current_app.extensions["idp.hasher"]
    password_hash = hasher.hash(DEMO_PASSWORD)
    companies = {}
    for ident, name, city, code, branches in COMPANIES:
        company = db.session.execute(db.select(Company).where(Company.external_id == ident)).scalar_one_or_none()
        if company is None:
            company = Company(external_id=ident, name=name, city=city, branches=branches)
            company.set_member_code(code)
            db.session.add(company)
        companies[ident] = company
    db.session.flush()
    lines = ["Demo companies (customer number / member code):"]
    lines += [f"  {ident}  {name}  member code {code}" for ident, name, _city, code, _branches in COMPANIES]
    lines.append(f"Demo people (password for all: {DEMO_PASSWORD}):")
    for email, given, family, username, ident, role, admin in PEOPLE:
        user = User.find_by_email(email)
        if user is None:
            user = User(email=email, email_verified=True, given_name=given, family_name=family,
                        username=username, password_hash=password_hash, locale="fr")
            db.session.add(user)
            db.session.flush()
        company = companies[ident]
        exists = db.session.execute(
            db.select(Membership).where(Membership.user_id == user.id, Membership.company_id == company.id)
        ).scalar_one_or_none()
        if exists is None:
            restricted = email == RESTRICTED[0]
            db.session.add(Membership(user_id=user.id, company_id=company.id, role=role, is_admin=admin,
                                      allowed_ips=RESTRICTED[1] if restricted else None,
                                      branch=RESTRICTED[2] if restricted else None))
        label = f"{role}{', admin' if admin else ''}"
        lines.append(f"  {email:<26} {('(' + username + ')') if username else '':<11} {company.name}: {label}")
    operator = User.find_by_email("operator@example.com")
    if operator is None:
        operator = User(email="operator@example.com", email_verified=True, given_name="Olivia", family_name="Support",
                        password_hash=password_hash, is_operator=True, locale="en")
        db.session.add(operator)
    lines.append("  operator@example.com       (operator of the platform)")
    if "operators" in current_app.config["IDP"].mfa.required_for:
        lines.append("    must use a second factor (mfa.required_for): sets one up at the first sign-in")
    db.session.commit()
    lines.append(f"  {RESTRICTED[0]} may sign in only from {RESTRICTED[1]}: from here, the refusal page")
    lines += _demo_key()
    return lines


def _demo_key() -> list[str]:
    """One API key for the REST client `rest-demo`; its secret can be printed only when it is made."""
    email, ident, name = KEY_HOLDER
    user = User.find_by_email(email)
    company = db.session.execute(db.select(Company).where(Company.external_id == ident)).scalar_one()
    if db.session.execute(db.select(ApiKey).where(ApiKey.user_id == user.id)).first() is not None:
        return [f"  {email} has an API key (its secret was printed when it was made; "
                "issue another at /account/api-keys)"]
    scope = current_app.config["IDP"].api_keys.scopes[:1]
    _key, raw = api_keys.issue(user, company, user, name, scope, None)
    return [f"API key of {email} for {company.name} (shown once): {raw}"]
