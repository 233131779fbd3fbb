"""The password policy in words: what a new password lacks, said in the user's language."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from idp.accounts.passwords import policy_problems
from idp.config import PasswordPolicyConfig
from idp.models import User


def policy_summary(policy: PasswordPolicyConfig) -> str:
    """One sentence for the form: the rules a new password must follow."""
    parts = [ngettext("at least %(num)d character", "at least %(num)d characters", policy.min_length)]
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
        "too_short": ngettext("The password is too short: it needs at least %(num)d character.",
                              "The password is too short: it needs at least %(num)d characters.", policy.min_length),
        "too_long": ngettext("The password is too long: it may have at most %(num)d character.",
                             "The password is too long: it may have at most %(num)d characters.", policy.max_length),
        "missing_upper": _("The password needs an uppercase letter."),
        "missing_lower": _("The password needs a lowercase letter."),
        "missing_digit": _("The password needs a digit."),
        "missing_special": _("The password needs a special character (such as ! ? # % or -)."),
        "too_common": _("This password is too common: choose another one."),
        "contains_personal": _("This password contains your name or your email address: choose another one."),
    }
    return [messages.get(code, code) for code in problems]


def new_password_problems(password: str, confirmation: str, *,
                          personal: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Why a new password (typed twice) cannot be used, each message with the field it concerns:
    `password_confirm` when the two differ, `password` for the policy; empty when it can."""
    policy = current_app.config["IDP"].password_policy
    problems = []
    if password != confirmation:
        problems.append(("password_confirm", _("The two passwords are not the same.")))
    problems += [("password", message)
                 for message in problem_messages(policy_problems(password, policy, personal=personal), policy)]
    return problems


def personal_words_of(user: User) -> tuple[str, ...]:
    """personal_words of an existing account: its address and names are off limits."""
    return personal_words(user.email, user.given_name, user.family_name)


def personal_words(email: str, *names: str | None) -> tuple[str, ...]:
    """Words a password must not contain: the address's local part and the person's names."""
    return (email.split("@")[0], *(name for name in names if name))
