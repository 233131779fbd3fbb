import pytest

from idp.accounts.passwords import Hasher, common_passwords, policy_problems
from idp.config import PasswordHashingConfig, PasswordPolicyConfig

POLICY = PasswordPolicyConfig()


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        pytest.param("Sh0rt!", ["too_short"], id="short"),
        pytest.param("alllower-case1", ["missing_upper"], id="no-upper"),
        pytest.param("ALLUPPER-CASE1", ["missing_lower"], id="no-lower"),
        pytest.param("No-Digits-Here", ["missing_digit"], id="no-digit"),
        pytest.param("NoSpecial123", ["missing_special"], id="no-special"),
        pytest.param("short", ["too_short", "missing_upper", "missing_digit", "missing_special"], id="everything"),
        pytest.param("Password1!", ["too_common"], id="common"),
        pytest.param("Tranquil-Otter-42", [], id="good"),
        pytest.param("x" * 129, ["too_long", "missing_upper", "missing_digit", "missing_special"], id="too-long"),
    ],
)
def test_policy(password, problems):
    assert policy_problems(password, POLICY) == problems


def test_policy_refuses_personal_information():
    assert policy_problems("Martine-2026!", POLICY, personal=("martine",)) == ["contains_personal"]
    assert policy_problems("Password1!martine", POLICY, personal=("martine",)) == ["contains_personal"]


def test_policy_follows_configuration():
    relaxed = PasswordPolicyConfig(min_length=12, require=["lower"], blocklist=False)
    assert policy_problems("password123", relaxed) == ["too_short"]
    assert policy_problems("password1234", relaxed) == []


def test_blocklist_is_loaded():
    words = common_passwords()
    assert len(words) > 19000 and "123456" in words and "qwerty" in words


def test_hash_is_argon2id_with_configured_cost():
    hasher = Hasher.from_config(PasswordHashingConfig())
    encoded = hasher.hash("Tranquil-Otter-42")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(encoded, "Tranquil-Otter-42")
    assert not hasher.verify(encoded, "tranquil-otter-42")
    assert not hasher.verify(None, "anything")  # an unknown account still costs a verification
    assert not hasher.verify("not-a-hash", "anything")


def test_stronger_parameters_ask_for_a_rehash():
    old = Hasher.from_config(PasswordHashingConfig()).hash("Tranquil-Otter-42")
    stronger = Hasher.from_config(PasswordHashingConfig(time_cost=3))
    assert stronger.needs_rehash(old)
    assert not stronger.needs_rehash(stronger.hash("Tranquil-Otter-42"))


def test_hashes_run_in_their_own_threads_as_many_at_once_as_configured():
    """argon2id runs in the hasher's threads (their malloc arenas keep its memory for reuse) and
    no more hashes run at once than `concurrency` allows."""
    import threading
    import time

    from argon2 import PasswordHasher

    hasher = Hasher.from_config(PasswordHashingConfig(concurrency=1))
    running, most, names = [0], [0], set()
    lock = threading.Lock()

    class Observed(PasswordHasher):
        def verify(self, digest, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                names.add(threading.current_thread().name)
            time.sleep(0.02)
            try:
                return super().verify(digest, password)
            finally:
                with lock:
                    running[0] -= 1

    observed = Hasher(Observed(time_cost=2, memory_cost=19456, parallelism=1), hasher._dummy_hash, hasher._pool)
    digest = observed.hash("Tranquil-Otter-42")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(observed.verify(digest, "Tranquil-Otter-42")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
    assert most[0] == 1
    assert all(name.startswith("idp-argon2") for name in names)
    assert observed.verify(None, "Tranquil-Otter-42") is False  # unknown account: same work, refused


def test_hashing_concurrency_defaults_to_the_usable_cores():
    import os

    hasher = Hasher.from_config(PasswordHashingConfig())
    assert hasher._pool._max_workers == len(os.sched_getaffinity(0))
