import pytest

from idp.config import PasswordHashingConfig, PasswordPolicyConfig
from idp.passwords import Hasher, common_passwords, policy_problems

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
    assert policy_problems("Martine-2026!", POLICY, personal=("martine",)) == ["too_common"]


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
