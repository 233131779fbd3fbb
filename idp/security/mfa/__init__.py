"""Second factors: enrollment, verification and management of TOTP, WebAuthn and recovery codes.

The rules of the MFA domain live here; the sign-in step (idp.flows.mfa), the account pages
(idp.flows.account_mfa), the operator pages and the CLI call into it. Every verification goes
through one per-account throttle (`throttling.mfa_per_account`), counted like failed passwords:
once exhausted, even the right code is refused until the window ends. A TOTP step once accepted
is refused again (a marker in the store for as long as the step could still be accepted).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import update

from idp import audit
from idp.config import IdpConfig
from idp.extensions import db
from idp.mail import queue_email
from idp.models import MfaFactor, RecoveryCode, User
from idp.models.base import utcnow
from idp.models.mfa import FactorKind
from idp.security.mfa.policy import ACR_MFA, has_second_factor
from idp.security.sealing import UnsealError, resealed, seal, secret_keys, unseal
from idp.security.throttling import FailureLimit
from idp.store import get_store

__all__ = ["ACR_MFA", "has_second_factor"]

TOTP_PURPOSE = b"idp totp secrets"  # idp.security.sealing: the TOTP seeds' own key
TOTP_ENROLL_KEY = "totp-enroll:"  # TTL: ENROLL_TTL; the seed shown on the enrollment page, sealed
TOTP_USED_KEY = "totp-used:"  # TTL: the window in which a step is accepted; a step once used
ENROLL_TTL = 900
MFA_ACCOUNT = "mfa-account"
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read from paper
RECOVERY_GROUP = 5


class MfaError(Exception):
    """A rule refused the change; the message is for the person (already translated by the caller)."""


def _config() -> IdpConfig:
    return current_app.config["IDP"]


def _secret_key() -> str:
    """The current secret: everything new is sealed or hashed under it."""
    return current_app.config["SECRET_KEY"]


# Factors


def factors_of(user: User) -> list[MfaFactor]:
    return list(db.session.execute(
        db.select(MfaFactor).where(MfaFactor.user_id == user.id).order_by(MfaFactor.created_at, MfaFactor.id)
    ).scalars())


def usable_factors(user: User) -> list[MfaFactor]:
    """The factors of the methods the configuration still allows."""
    methods = _config().mfa.methods
    return [factor for factor in factors_of(user) if factor.kind in methods]


def find_factor(user: User, public_id: str | None) -> MfaFactor | None:
    """One of `user`'s factors (never another person's), or None."""
    if not public_id or len(public_id) > 32:
        return None
    return db.session.execute(
        db.select(MfaFactor).where(MfaFactor.user_id == user.id, MfaFactor.public_id == public_id)
    ).scalar_one_or_none()


def recovery_codes_left(user: User) -> int:
    return db.session.execute(
        db.select(db.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def _notify(user: User, change: str, *, kind: str | None = None, **context: Any) -> None:
    # The factor's kind travels as `factor_kind`: `kind` is queue_email's own (the email's). `when`:
    # the email says when the change happened, which its delivery (perhaps retried) may not.
    queue_email("mfa_changed", user.email, user.locale, user=user, change=change, factor_kind=kind, when=utcnow(),
                **context)


def rename_factor(user: User, factor: MfaFactor, name: str) -> None:
    old = factor.name
    factor.name = name
    audit.record("mfa.factor_renamed", user=user, factor=factor.public_id, kind=factor.kind, old=old, new=name)


def remove_factor(user: User, factor: MfaFactor, *, covered: bool) -> None:
    """Remove a factor (the caller checked the password). A person the policy covers (`covered`)
    keeps at least one; with the last one go the recovery codes, which stand in for a factor."""
    remaining = [f for f in usable_factors(user) if f.id != factor.id]
    if covered and not remaining:
        raise MfaError("last_factor")
    db.session.delete(factor)
    if not remaining:
        db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    audit.record("mfa.factor_removed", user=user, factor=factor.public_id, kind=factor.kind)
    _notify(user, "removed", kind=factor.kind, name=factor.name)


def reset(user: User, actor: User | None) -> int:
    """Remove every factor and recovery code of `user` (an operator's reset); the number of factors removed."""
    factors = factors_of(user)
    for factor in factors:
        db.session.delete(factor)
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    audit.record("mfa.reset", user=user, actor=actor, factors=len(factors))
    _notify(user, "reset")
    return len(factors)


def record_new_factor(user: User, factor: MfaFactor) -> list[str] | None:
    """Record a new factor; the first one comes with recovery codes (returned, to be shown once)."""
    db.session.add(factor)
    db.session.flush()
    audit.record("mfa.factor_added", user=user, factor=factor.public_id, kind=factor.kind)
    _notify(user, "added", kind=factor.kind, name=factor.name)
    if recovery_codes_left(user) == 0 and len(factors_of(user)) == 1:
        return issue_recovery_codes(user, notify=False)
    return None


# The throttle of second factors


def throttle(user: User) -> FailureLimit:
    return FailureLimit(MFA_ACCOUNT, _config().throttling.mfa_per_account, f"user:{user.id}")


def count_failure(user: User, method: str, reason: str) -> None:
    throttle(user).count()
    audit.record("user.mfa_failed", user=user, method=method, reason=reason)


def is_locked(user: User, method: str) -> bool:
    if throttle(user).is_exhausted():
        audit.record("user.mfa_locked_out", user=user, method=method)
        return True
    return False


# TOTP


@dataclass(frozen=True)
class TotpEnrollment:
    """A seed offered on the enrollment page, not yet confirmed by a code."""

    secret: str
    uri: str

    @property
    def qr_svg(self) -> Markup:
        """The otpauth:// URI as an inline SVG QR code: nothing is fetched from anywhere else."""
        svg = segno.make(self.uri, error="m").svg_inline(scale=5, border=2, dark="#111", light="#fff",
                                                         title=_("QR code to scan with your authenticator app"))
        return Markup(svg)  # noqa: S704 - segno's own SVG, from a URI we built

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


def _totp(secret: str) -> pyotp.TOTP:
    settings = _config().mfa.totp
    return pyotp.TOTP(secret, digits=settings.digits, interval=settings.period)


def start_totp_enrollment(user: User) -> TotpEnrollment:
    """A new seed (20 random bytes, RFC 4226's recommendation) kept sealed in the store for the
    enrollment page, or the one already offered, so that a reload shows the same QR code."""
    key = f"{TOTP_ENROLL_KEY}{user.id}"
    sealed = get_store().get(key)
    secret = None
    if sealed is not None:
        try:
            secret = unseal(secret_keys(), TOTP_PURPOSE, sealed, user.public_id.encode()).decode()
        except UnsealError:  # the secret changed and the previous one is no fallback: offer a new seed
            secret = None
    if secret is None:
        secret = pyotp.random_base32(32)
        get_store().put(key, seal(_secret_key(), TOTP_PURPOSE, secret.encode(), user.public_id.encode()), ENROLL_TTL)
    settings = _config().mfa.totp
    uri = _totp(secret).provisioning_uri(name=user.email, issuer_name=settings.issuer)
    return TotpEnrollment(secret, uri)


def _step_matches(secret: str, code: str) -> int | None:
    """The time step (counter) at which `code` is right within the allowed skew, else None.
    Every step of the window is compared, in constant time."""
    settings = _config().mfa.totp
    totp = _totp(secret)
    now = totp.timecode(datetime.now(UTC))
    code = code.strip().replace(" ", "")
    matched = None
    for offset in range(-settings.skew, settings.skew + 1):
        if hmac.compare_digest(totp.generate_otp(now + offset).encode(), code.encode()) and matched is None:
            matched = now + offset
    return matched


def _claim_step(factor_key: str, step: int) -> bool:
    settings = _config().mfa.totp
    ttl = settings.period * (2 * settings.skew + 2)
    return get_store().add(f"{TOTP_USED_KEY}{factor_key}:{step}", "1", ttl)


def confirm_totp_enrollment(user: User, code: str, name: str) -> tuple[MfaFactor, list[str] | None] | None:
    """Confirm the seed on offer with its first code: the new factor, and recovery codes when it is
    the first factor (to show once); None when the code is wrong or the offer has expired."""
    if is_locked(user, "totp"):
        return None
    sealed = get_store().get(f"{TOTP_ENROLL_KEY}{user.id}")
    secret = None
    if sealed is not None:
        try:
            secret = unseal(secret_keys(), TOTP_PURPOSE, sealed, user.public_id.encode()).decode()
        except UnsealError:  # the secret changed meanwhile and the previous one is no fallback
            secret = None
    step = _step_matches(secret, code) if secret is not None else None
    if step is None:
        count_failure(user, "totp", "enrollment_code")
        return None
    factor = MfaFactor(user_id=user.id, kind=FactorKind.TOTP, name=name, public_id=_new_public_id())
    factor.totp_secret = seal(_secret_key(), TOTP_PURPOSE, secret.encode(), factor.public_id.encode())
    # The enrollment code is spent: the same step cannot then sign in.
    _claim_step(factor.public_id, step)
    get_store().delete(f"{TOTP_ENROLL_KEY}{user.id}")
    factor.last_used_at = utcnow()
    codes = record_new_factor(user, factor)
    return factor, codes


def _new_public_id() -> str:
    return secrets.token_urlsafe(16)


def verify_totp(user: User, code: str) -> MfaFactor | None:
    """The TOTP factor `code` is right for, or None (wrong, replayed, or throttled)."""
    if is_locked(user, "totp"):
        return None
    for factor in usable_factors(user):
        if factor.kind != FactorKind.TOTP or not factor.totp_secret:
            continue
        # A seed that opens under no configured secret raises UnsealError (a 503, idp.web.errors):
        # refusing the code would tell the person a right code is wrong.
        secret = unseal(secret_keys(), TOTP_PURPOSE, factor.totp_secret, factor.public_id.encode()).decode()
        step = _step_matches(secret, code)
        if step is None:
            continue
        if not _claim_step(factor.public_id, step):
            count_failure(user, "totp", "replayed")
            return None
        factor.last_used_at = utcnow()
        audit.record("user.mfa_verified", user=user, method="totp", factor=factor.public_id)
        return factor
    count_failure(user, "totp", "wrong_code")
    return None


def reseal_totp_seeds() -> tuple[int, int]:
    """Seal every TOTP seed under the current secret, in the caller's transaction; (resealed,
    already under the current secret). Pending enrollments live in the store for minutes only:
    they open under a fallback until they expire."""
    keys = secret_keys()
    changed = current = 0
    factors = db.session.execute(
        db.select(MfaFactor).where(MfaFactor.kind == FactorKind.TOTP, MfaFactor.totp_secret.is_not(None))
        .order_by(MfaFactor.id).with_for_update()
    ).scalars()
    for factor in factors:
        sealed = resealed(keys, TOTP_PURPOSE, factor.totp_secret, factor.public_id.encode(),
                          f"TOTP factor {factor.public_id}")
        if sealed is None:
            current += 1
        else:
            factor.totp_secret, changed = sealed, changed + 1
    return changed, current


# Recovery codes


def _recovery_hash(code: str, secret_key: str | None = None) -> str:
    """A keyed hash (HMAC-SHA256 under a key of the application secret, the current one unless
    `secret_key` names another): a recovery code holds 50 random bits, too few against an offline
    search of a plain hash taken from a copy of the database, and argon2 would cost ten hashes
    per attempt; a key outside SQL settles both."""
    normalized = "".join(ch for ch in code.lower() if ch.isalnum())
    key = hmac.new((secret_key or _secret_key()).encode(), b"idp recovery codes", hashlib.sha256).digest()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def _recovery_hashes(code: str) -> list[str]:
    """The hashes `code` may be stored under: the current secret's and each fallback's. A hash
    cannot be re-keyed without its code, so the codes issued before a rotation are found under
    their old secret until they are renewed (README, "Rotating the secret key")."""
    return [_recovery_hash(code, key) for key in secret_keys()]


def _new_recovery_code() -> str:
    chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(2 * RECOVERY_GROUP))
    return f"{chars[:RECOVERY_GROUP]}-{chars[RECOVERY_GROUP:]}"


def issue_recovery_codes(user: User, *, notify: bool = True) -> list[str]:
    """A new set of recovery codes, replacing any earlier set; returned once, stored hashed."""
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(_config().mfa.recovery_codes)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(code)) for code in codes)
    audit.record("mfa.recovery_codes_issued", user=user, count=len(codes))
    if notify:
        _notify(user, "recovery_codes")
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one recovery code (one UPDATE claims it: two racing uses cannot both pass); the
    person is emailed, with how many are left."""
    if is_locked(user, "recovery_code"):
        return False
    if len(code) > 64:
        count_failure(user, "recovery_code", "wrong_code")
        return False
    claimed = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash.in_(_recovery_hashes(code)),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        count_failure(user, "recovery_code", "wrong_code")
        return False
    left = recovery_codes_left(user)
    audit.record("user.mfa_verified", user=user, method="recovery_code", left=left)
    _notify(user, "recovery_code_used", left=left)
    return True


# What a proof adds to the session's methods (RFC 8176)


def amr_for_totp() -> list[str]:
    return ["otp", "mfa"]


def amr_for_webauthn(factor: MfaFactor, user_verified: bool, *, with_password: bool) -> list[str]:
    """A key whose private part may be synced off the device is a software key (swk), else hwk. A
    key alone is one factor, unless the authenticator verified the person (a PIN or biometrics)."""
    method = "swk" if factor.backup_eligible else "hwk"
    return [method, "mfa"] if (with_password or user_verified) else [method]
