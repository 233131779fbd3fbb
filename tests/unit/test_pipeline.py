import pytest

from idp.flows.login import login_needed
from idp.pipeline import Interaction, SessionFacts, Step, next_step, ordered_steps


def interaction(params=None, session=None, done=None, now=1000):
    return Interaction(uid="u", client_id="c", params=params or {}, return_to="/resume/u", created_at=900,
                       done=done or {}, session=session or SessionFacts(), now=now)


def always(reason):
    return lambda _interaction: reason


def test_steps_are_ordered_by_gapped_order():
    from idp.pipeline import Flow

    class FakeBlueprint:
        pass

    first = Flow("a", FakeBlueprint(), steps=(Step("mfa", 40, "a.mfa", always(None)),))
    second = Flow("b", FakeBlueprint(), steps=(Step("login", 10, "b.login", always(None)),
                                               Step("consent", 90, "b.consent", always(None))))
    assert [s.name for s in ordered_steps([first, second])] == ["login", "mfa", "consent"]


def test_a_step_defined_twice_is_refused():
    from idp.pipeline import Flow

    step = Step("login", 10, "x.login", always(None))
    with pytest.raises(ValueError, match="steps defined twice: login"):
        ordered_steps([Flow("a", object(), steps=(step,)), Flow("b", object(), steps=(step,))])


def test_next_step_returns_the_first_unmet_with_its_reason():
    steps = [Step("login", 10, "l", always(None)), Step("mfa", 40, "m", always("not_enrolled")),
             Step("consent", 90, "c", always("no_consent"))]
    step, reason = next_step(steps, interaction())
    assert (step.name, reason) == ("mfa", "not_enrolled")
    assert next_step(steps[:1], interaction()) is None


SIGNED_IN = SessionFacts(user_id=1, auth_time=950, amr=("pwd",), sid="s1")


@pytest.mark.parametrize(
    ("params", "session", "done", "reason"),
    [
        pytest.param({}, SessionFacts(), {}, "no_session", id="no-session"),
        pytest.param({}, SIGNED_IN, {}, None, id="signed-in"),
        pytest.param({"prompt": "login"}, SIGNED_IN, {}, "prompt_login", id="prompt-login"),
        pytest.param({"prompt": "login"}, SIGNED_IN, {"login": {"sid": "s1"}}, None, id="prompt-login-satisfied"),
        pytest.param({"prompt": "login"}, SIGNED_IN, {"login": {"sid": "other"}}, "prompt_login",
                     id="proof-from-another-session"),
        pytest.param({"max_age": "60"}, SIGNED_IN, {}, None, id="max-age-fresh"),
        pytest.param({"max_age": "10"}, SIGNED_IN, {}, "max_age", id="max-age-passed"),
        pytest.param({"max_age": "0"}, SIGNED_IN, {"login": {"sid": "s1"}}, None, id="max-age-0-after-login"),
    ],
)
def test_login_step(params, session, done, reason):
    assert login_needed(interaction(params, session, done)) == reason
