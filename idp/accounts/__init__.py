"""Creating, changing and disabling accounts: the rules shared by the CLI, flows and admin pages."""

from __future__ import annotations

from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app, session, url_for
from sqlalchemy.exc import IntegrityError

from idp import audit, signals
from idp.accounts import auth, links
from idp.accounts.passwords import policy_problems
from idp.extensions import db
from idp.mail import queue_email
from idp.models import User
from idp.models.base import utcnow
from idp.models.users import UserStatus, normalize_email, normalize_username

PASSWORD_SETUP_TTL = timedelta(hours=72)


class AccountError(Exception):
    """A request on an account that cannot be carried out; the message is safe to show."""


def check_email(email: str) -> str:
    """The normalised address, or AccountError. No DNS lookup: the confirmation link proves it."""
    try:
        return normalize_email(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise AccountError(f"invalid email address: {exc}") from None


def create_user(*, email: str, given_name: str = "", family_name: str = "", username: str | None = None,
                phone: str | None = None, locale: str | None = None, password: str | None = None,
                send_password_link: bool = False, must_change_password: bool = False,
                email_verified: bool = True, actor: User | None = None) -> User:
    """An active account; with no password, the person sets one through an emailed link."""
    config = current_app.config["IDP"]
    address = check_email(email)
    if User.find_by_email(address) is not None:
        raise AccountError(f"an account already exists for {address}")
    if username and User.find_by_login(username) is not None:
        raise AccountError(f"the username {username} is taken")
    if password is not None:
        problems = policy_problems(password, config.password_policy, personal=(address.split("@")[0],))
        if problems:
            raise AccountError("password refused: " + ", ".join(problems))
    if send_password_link and "forgot_password" not in current_app.extensions["idp.flows"]:
        raise AccountError("--send-password-link needs the forgot_password flow in the configuration")
    user = User(email=address, email_verified=email_verified,
                username=normalize_username(username) if username else None,
                given_name=given_name, family_name=family_name, phone=phone, locale=locale,
                status=UserStatus.ACTIVE, must_change_password=must_change_password and password is not None)
    if password is not None:
        user.password_hash = current_app.extensions["idp.hasher"].hash(password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AccountError(f"an account already exists for {address}") from None
    audit.record("user.created", user=user, actor=actor, by="operator" if actor is None else "admin")
    if send_password_link:
        send_password_setup(user)
    db.session.commit()
    return user


def send_password_setup(user: User, interaction: str | None = None) -> None:
    """Email the person their username and a single-use link to choose a password.

    `interaction` is the sign-in in progress, if any: once the password is set it resumes.
    """
    extra = {"interaction": interaction} if interaction else {}
    raw = links.issue("password_reset", user.id, PASSWORD_SETUP_TTL, **extra)
    issuer = current_app.config["IDP"].issuer
    queue_email("password_setup", user.email, user.locale, user=user,
                link=issuer + url_for("forgot_password.reset", token=raw), hours=72)
    audit.record("user.password_link_sent", user=user, purpose="setup")


def set_password(user: User, password: str) -> None:
    """Store a new password and end every session of the user (the caller signs them back in)."""
    user.password_hash = current_app.extensions["idp.hasher"].hash(password)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    auth.end_all_sessions(user)
    signals.sessions_ended.send(user)
    audit.record("user.password_changed", user=user)


def set_own_password(user: User, password: str) -> list[str]:
    """The signed-in person sets their password: every other session ends, this one goes on
    under a fresh id with the same proofs, which are returned."""
    amr = list(session.get("amr", ["pwd"]))
    set_password(user, password)
    auth.sign_in(user, amr)
    return amr


def disable_user(email: str, actor: User | None = None) -> User:
    user = User.find_by_email(email)
    if user is None:
        raise AccountError(f"no account for {email}")
    user.status = UserStatus.DISABLED
    auth.end_all_sessions(user)
    signals.user_disabled.send(user)
    audit.record("user.disabled", user=user, actor=actor)
    db.session.commit()
    return user
