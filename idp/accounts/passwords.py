"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import gzip
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.config import PasswordHashingConfig, PasswordPolicyConfig

SPECIALS = set("!@#$%^&*()_[]:;<>?~|{}.,/-+=\"'`\\ ")


@dataclass(frozen=True)
class Hasher:
    """argon2id with the configured cost; knows when an old hash needs upgrading."""

    _hasher: PasswordHasher
    # A hash of a random password, verified when the login is unknown so that an unknown
    # account costs the same time as a wrong password.
    _dummy_hash: str
    # The threads that compute the hashes, PasswordHashingConfig.concurrency of them; requests
    # queue for them. glibc gives each thread its own malloc arena, and argon2id's memory is then
    # always taken from and given back to the same few: freed, it is reused by the next hash
    # without faulting a page in, and the request threads never each keep a 19 MiB block. (Hashing
    # in the request threads cost 20 MB per thread for the life of the process, and returning
    # the block to the system after each hash cost a third of the throughput.)
    _pool: ThreadPoolExecutor

    @classmethod
    def from_config(cls, config: PasswordHashingConfig) -> Hasher:
        hasher = PasswordHasher(
            time_cost=config.time_cost,
            memory_cost=config.memory_cost_kib,
            parallelism=config.parallelism,
        )
        pool = ThreadPoolExecutor(max_workers=config.concurrency or usable_cores(), thread_name_prefix="idp-argon2")
        return cls(hasher, pool.submit(hasher.hash, "timing-equaliser-not-a-password").result(), pool)

    def hash(self, password: str) -> str:
        return self._pool.submit(self._hasher.hash, password).result()

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash, spend the same time and return False."""
        try:
            matched = self._pool.submit(self._hasher.verify, password_hash or self._dummy_hash, password).result()
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@cache
def common_passwords() -> frozenset[str]:
    """About 20,000 passwords seen most often in breaches, lower-cased."""
    data = resources.files("idp.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip().lower() for line in gzip.decompress(data).decode().splitlines() if line.strip())


# Reasons are codes; the views turn them into translated messages.
def policy_problems(password: str, policy: PasswordPolicyConfig, *, personal: tuple[str, ...] = ()) -> list[str]:
    """Every rule of the policy the password breaks, as codes (too_short, missing_upper, ...)."""
    problems = []
    if len(password) < policy.min_length:
        problems.append("too_short")
    if len(password) > policy.max_length:
        problems.append("too_long")
    checks = {
        "upper": any(c.isupper() for c in password),
        "lower": any(c.islower() for c in password),
        "digit": any(c.isdigit() for c in password),
        "special": any(c in SPECIALS or not c.isalnum() for c in password),
    }
    for required in policy.require:
        if not checks[required]:
            problems.append(f"missing_{required}")
    if policy.blocklist:
        folded = password.lower()
        if folded in common_passwords():
            problems.append("too_common")
        # Apart from too_common: a person told "too common" about "Martine-2026!" cannot see why.
        if any(p and p.lower() in folded for p in personal if len(p) >= 4):
            problems.append("contains_personal")
    return problems
