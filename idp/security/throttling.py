"""Throttles of failed attempts (sign-in, current passwords, client authentication, member codes), of
the forms that send mail to a typed address, and the owner's lockout email.

A failure is counted after it happens; the next attempt is checked before it is made, so that
once a limit is reached even the right secret is refused until the window ends. The counters
live in Flask-Limiter's storage (Redis, or memory for one node) under its key layout, beside
the limits the views declare, and they are usable where no request context exists (the token
endpoint's early path).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from flask import current_app, request, url_for
from limits import RateLimitItem, parse

from idp import audit
from idp.accounts import links
from idp.extensions import limiter
from idp.mail import queue_email
from idp.models import User
from idp.models.users import UserStatus, login_key
from idp.store import get_store

ONCE_KEY = "throttle-once:"  # TTL: what is left of the limit's window; one email or audit row per lockout

LOGIN_ACCOUNT = "login-account"
LOGIN_IP = "login-ip"
CLIENT_AUTH_CLIENT = "client-auth-client"
CLIENT_AUTH_IP = "client-auth-ip"

# The lockout email's link: the forgotten-password flow's own purpose and lifetime, so that its
# page takes it, once.
RESET_PURPOSE = "password_reset"
RESET_TTL = timedelta(hours=1)


@cache
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def hashed(value: str) -> str:
    """A typed value as it may be written to the store: nothing typed is kept in clear."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class FailureLimit:
    """At most `rate` failures, or attempts (Flask-Limiter's notation), per `key` in a window of `scope`."""

    scope: str
    rate: str
    key: str

    def _identifiers(self) -> tuple[str, str, str]:
        # Flask-Limiter's own layout for a view's limit: prefix, key, scope.
        return current_app.config["RATELIMIT_KEY_PREFIX"], self.key, self.scope

    def is_exhausted(self) -> bool:
        return not limiter.limiter.test(_item(self.rate), *self._identifiers())

    def count(self) -> None:
        limiter.limiter.hit(_item(self.rate), *self._identifiers())

    def spend(self) -> bool:
        """Count one attempt; False when it goes over the limit."""
        return limiter.limiter.hit(_item(self.rate), *self._identifiers())

    def seconds_left(self) -> int:
        """Until the window ends (at least one second)."""
        reset, _remaining = limiter.limiter.get_window_stats(_item(self.rate), *self._identifiers())
        # Rounded down: what is keyed on the window (once_per_window) must not outlive it.
        return max(1, int(reset - time.time()))

    def once_per_window(self, what: str) -> bool:
        """True the first time `what` is asked for in the current window, False after that."""
        return get_store().add(f"{ONCE_KEY}{what}:{self.scope}:{self.key}", "1", self.seconds_left())


def _limits(*candidates: FailureLimit | None) -> tuple[FailureLimit, ...]:
    # No address (a test environ, a Unix socket): that limit is skipped, as Flask-Limiter skips empty keys.
    return tuple(limit for limit in candidates if limit is not None and limit.key)


def per_ip(scope: str, rate: str) -> FailureLimit | None:
    """A limit per client address (None without one)."""
    address = request.remote_addr
    return FailureLimit(scope, rate, address) if address else None


# A page never answers 429. A form that takes an address or a guess from a stranger (forgotten
# password, sign-up, resending a confirmation, a member code) asks one of the two functions below
# and, when a limit refuses, answers exactly as it answers that input normally (the same page,
# status, cookies and timing floor), doing nothing, and audits the attempt: the answer tells
# neither that throttling began nor, through it, which addresses someone is after. Flask-Limiter's
# decorators answer a breach themselves, with a 429 page; only the protocol's JSON clients get that.

def over_limit(*candidates: FailureLimit | None) -> FailureLimit | None:
    """Count one attempt against each limit (every attempt counts); the first one it goes over, if any."""
    refused = None
    for limit in _limits(*candidates):
        if not limit.spend() and refused is None:
            refused = limit
    return refused


def first_exhausted(*candidates: FailureLimit | None) -> FailureLimit | None:
    """The first limit of failures that refuses the next attempt, if any (the caller counts failures)."""
    for limit in _limits(*candidates):
        if limit.is_exhausted():
            return limit
    return None


def sign_in_account_key(user: User | None, typed: str) -> str:
    """The per-account counter of a sign-in: the account's own once the typed login names one,
    so that its email and its username share one count; the typed value's otherwise (as the
    account lookup reads it, hashed), so that an unknown login is counted, and answered, exactly
    as a known one."""
    if user is not None:
        return f"account:user:{user.id}"
    return "account:" + hashed(login_key(typed))


@dataclass(frozen=True)
class SignInThrottle:
    """The sign-in throttles of one attempt at a password: per account and per client address.

    The sign-in page and every page asking for the current password share these counters: a
    stolen session cannot guess the password on the account page beyond what sign-in allows.
    """

    user: User | None
    account: FailureLimit
    ip: FailureLimit | None

    @classmethod
    def for_attempt(cls, user: User | None, typed: str, address: str | None) -> SignInThrottle:
        rates = current_app.config["IDP"].throttling
        ip = FailureLimit(LOGIN_IP, rates.login_per_ip, address) if address else None
        return cls(user, FailureLimit(LOGIN_ACCOUNT, rates.login_per_account, sign_in_account_key(user, typed)), ip)

    def locked(self) -> str | None:
        """"account" or "ip" while that throttle refuses attempts, else None."""
        if self.account.is_exhausted():
            return "account"
        if self.ip is not None and self.ip.is_exhausted():
            return "ip"
        return None

    def count_failure(self) -> None:
        for limit in _limits(self.account, self.ip):
            limit.count()

    def warn_owner(self) -> None:
        """Email the account's owner, once per lockout window, when its throttle is exhausted."""
        user = self.user
        if user is None or user.status == UserStatus.DISABLED or not self.account.is_exhausted():
            return
        if self.account.once_per_window("mail"):
            send_sign_in_locked_email(user, minutes=max(1, self.account.seconds_left() // 60))


def send_sign_in_locked_email(user: User, minutes: int) -> None:
    """Tell the owner that someone failed to sign in to the account many times, with a
    single-use link to choose a new password (in the account's language, not the guesser's)."""
    link = None
    if "forgot_password" in current_app.extensions["idp.flows"]:
        raw = links.issue(RESET_PURPOSE, user.id, RESET_TTL)
        link = current_app.config["IDP"].issuer + url_for("forgot_password.reset", token=raw)
    queue_email("sign_in_locked", user.email, user.locale, user=user, link=link, minutes=minutes,
                hours=int(RESET_TTL.total_seconds() // 3600))
    audit.record("user.lockout_notified", user=user)


def check_current_password(user: User, password: str, purpose: str) -> bool:
    """Whether `password` is the signed-in person's current one, under the sign-in throttles.

    While a throttle is exhausted the answer is False whatever was typed, after the same work (a
    hash verification), so the page answers as for a wrong password. Failures are audited as
    `user.password_check_failed` (with `purpose`, the page's); the caller commits.
    """
    hasher = current_app.extensions["idp.hasher"]
    throttle = SignInThrottle.for_attempt(user, user.email, request.remote_addr)
    locked = throttle.locked()
    if locked is not None:
        hasher.verify(None, password)  # the cost of a check, without checking
        audit.record("user.locked_out", user=user, scope=locked, purpose=purpose)
        if locked == "account":
            throttle.warn_owner()
        return False
    if hasher.verify(user.password_hash, password):
        return True
    audit.record("user.password_check_failed", user=user, purpose=purpose)
    throttle.count_failure()
    throttle.warn_owner()
    return False


@dataclass(frozen=True)
class ClientAuthThrottle:
    """The throttles of a client authentication at /token, /introspect or /revoke: per client_id
    as claimed (known or not, hashed) and per client address."""

    limits: tuple[FailureLimit, ...]

    @classmethod
    def for_attempt(cls, claimed_client_id: str | None, address: str | None) -> ClientAuthThrottle:
        rates = current_app.config["IDP"].throttling
        client = (FailureLimit(CLIENT_AUTH_CLIENT, rates.client_auth_per_client, "client:" + hashed(claimed_client_id))
                  if claimed_client_id else None)
        ip = FailureLimit(CLIENT_AUTH_IP, rates.client_auth_per_ip, address) if address else None
        return cls(_limits(client, ip))

    def exhausted(self) -> FailureLimit | None:
        """The first limit that refuses attempts now, if any."""
        for limit in self.limits:
            if limit.is_exhausted():
                return limit
        return None

    def count_failure(self) -> None:
        for limit in self.limits:
            limit.count()
