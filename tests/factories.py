"""Factories: people and companies made directly in SQL, with a password hash computed once."""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

from flask import current_app

from idp.extensions import db
from idp.models import Company, Membership, User

PASSWORD = "Correct-Horse-9-Battery"
_sequence = itertools.count(1)


@cache
def _hash_for(password: str, params: tuple[int, int, int]) -> str:
    return current_app.extensions["idp.hasher"].hash(password)


def password_hash(password: str = PASSWORD) -> str:
    cost = current_app.config["IDP"].password_hashing
    return _hash_for(password, (cost.time_cost, cost.memory_cost_kib, cost.parallelism))


def make_user(email: str | None = None, password: str | None = PASSWORD, **fields: Any) -> User:
    number = next(_sequence)
    values: dict[str, Any] = {
        "email": email or f"person{number}@example.com",
        "email_verified": True,
        "given_name": "Alex",
        "family_name": f"Tester{number}",
        "password_hash": password_hash(password) if password is not None else None,
    }
    values.update(fields)
    user = User(**values)
    db.session.add(user)
    db.session.commit()
    return user


def make_company(external_id: str | None = None, member_code: str | None = "CODE-1234", **fields: Any) -> Company:
    number = next(_sequence)
    company = Company(external_id=external_id or f"C-{90000 + number}", name=fields.pop("name", f"Company {number}"),
                      **fields)
    company.set_member_code(member_code)
    db.session.add(company)
    db.session.commit()
    return company


def make_membership(user: User, company: Company, role: str = "order", **fields: Any) -> Membership:
    membership = Membership(user_id=user.id, company_id=company.id, role=role, **fields)
    db.session.add(membership)
    db.session.commit()
    return membership


def count_hash_verifications(app) -> list[bool]:
    """Count the app's password verifications from now on: one entry per verify, True when a
    real hash was checked (False for the dummy hash of an unknown account)."""
    hasher = app.extensions["idp.hasher"]
    verified: list[bool] = []

    class CountingHasher(type(hasher)):
        def verify(self, password_hash, password):
            verified.append(password_hash is not None)
            return super().verify(password_hash, password)

    app.extensions["idp.hasher"] = CountingHasher(hasher._hasher, hasher._dummy_hash, hasher._pool)
    return verified
