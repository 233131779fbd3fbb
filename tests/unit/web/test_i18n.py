import pytest

from idp.web.i18n import pick_language

LANGS = ["fr", "en"]


@pytest.mark.parametrize(
    ("ui_locales", "chosen", "user", "accept", "expected"),
    [
        pytest.param("en-GB fr", "fr", "fr", [("fr", 1)], "en", id="ui_locales-first"),
        pytest.param("de en", None, None, [], "en", id="ui_locales-first-supported"),
        pytest.param(None, "en", "fr", [("fr", 1)], "en", id="session-choice"),
        pytest.param(None, None, "en", [("fr", 1)], "en", id="user-locale"),
        pytest.param(None, None, None, [("de", 1), ("en-US", 0.8)], "en", id="accept-language"),
        pytest.param(None, None, None, [("de", 1)], "fr", id="default"),
    ],
)
def test_language_order(ui_locales, chosen, user, accept, expected):
    assert pick_language(ui_locales, chosen, user, accept, LANGS, "fr") == expected
