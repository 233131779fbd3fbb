"""The password policy in words: what a new password lacks, said in the user's language."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from idp.accounts.passwords import policy_problems
from idp.config import PasswordPolicyConfig
from idp.models import User


def policy_summary(policy: PasswordPolicyConfig) -> str:
    """One sentence for the form: the rules a new password must follow."""
    parts = [_("at least %(count)d characters", count=policy.min_length)]
    names = {
        "upper": _("an uppercase letter"),
        "lower": _("a lowercase letter"),
        "digit": _("a digit"),
        "special": _("a special character (such as ! ? # % or -)"),
    }
    parts += [names[item] for item in policy.require]
    return _("Your password must contain %(rules)s.", rules=", ".join(parts))


def problem_messages(problems: list[str], policy: PasswordPolicyConfig) -> list[str]:
    """A sentence per broken rule, saying exactly what is missing."""
    messages = {
        "too_short": _("The password is too short: it needs at least %(count)d characters.",
                       count=policy.min_length),
        "too_long": _("The password is too long: it may have at most %(count)d characters.",
                      count=policy.max_length),
        "missing_upper": _("The password needs an uppercase letter."),
        "missing_lower": _("The password needs a lowercase letter."),
        "missing_digit": _("The password needs a digit."),
        "missing_special": _("The password needs a special character (such as ! ? # % or -)."),
        "too_common": _("This password is too common or contains your name or email address: "
                        "choose another one."),
    }
    return [messages.get(code, code) for code in problems]


def new_password_errors(password: str, confirmation: str, *, personal: tuple[str, ...] = ()) -> list[str]:
    """Why a new password (typed twice) cannot be used; empty when it can."""
    policy = current_app.config["IDP"].password_policy
    errors = []
    if password != confirmation:
        errors.append(_("The two passwords are not the same."))
    errors += problem_messages(policy_problems(password, policy, personal=personal), policy)
    return errors


def password_errors_for(user: User, password: str, confirmation: str) -> list[str]:
    """new_password_errors for an existing account: its address and names are off limits."""
    return new_password_errors(password, confirmation,
                               personal=personal_words(user.email, user.given_name, user.family_name))


def personal_words(email: str, *names: str | None) -> tuple[str, ...]:
    """Words a password must not contain: the address's local part and the person's names."""
    return (email.split("@")[0], *(name for name in names if name))
