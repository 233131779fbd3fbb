"""Demo data: two companies and people in every role, so a newcomer can sign in at once."""

from __future__ import annotations

from flask import current_app

from idp.extensions import db
from idp.models import Company, Membership, User

DEMO_PASSWORD = "Portail-Demo-2026!"  # noqa: S105 - the demo's published password

COMPANIES = [
    # external id, name, city, member code
    ("C-10001", "Électricité Durand SARL", "Lyon", "DURAND-7731"),
    ("C-10002", "Garage Martin & Fils", "Nantes", "MARTIN-4420"),
]

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
    for ident, name, city, code in COMPANIES:
        company = db.session.execute(db.select(Company).where(Company.external_id == ident)).scalar_one_or_none()
        if company is None:
            company = Company(external_id=ident, name=name, city=city)
            company.set_member_code(code)
            db.session.add(company)
        companies[ident] = company
    db.session.flush()
    lines = ["Demo companies (customer number / member code):"]
    lines += [f"  {ident}  {name}  member code {code}" for ident, name, _city, code in COMPANIES]
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
            db.session.add(Membership(user_id=user.id, company_id=company.id, role=role, is_admin=admin))
        label = f"{role}{', admin' if admin else ''}"
        lines.append(f"  {email:<26} {('(' + username + ')') if username else '':<11} {company.name}: {label}")
    operator = User.find_by_email("operator@example.com")
    if operator is None:
        operator = User(email="operator@example.com", email_verified=True, given_name="Olivia", family_name="Support",
                        password_hash=password_hash, is_operator=True, locale="en")
        db.session.add(operator)
    lines.append("  operator@example.com       (operator of the platform)")
    db.session.commit()
    return lines
