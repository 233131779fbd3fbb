"""The wording of the catalogues: counts through ngettext, and the French glossary (README, Translations)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
CATALOGUES = ROOT / "idp" / "translations"
FRENCH = CATALOGUES / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def read(path):
    with path.open("rb") as handle:
        return list(read_po(handle))


def ids_of(message):
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def strings_of(message):
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def test_no_message_of_the_code_says_s_in_parentheses(tmp_path):
    """A count is said with ngettext ("1 hour", "2 hours"), never "hour(s)"."""
    pot = tmp_path / "messages.pot"
    babel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(babel), "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True, timeout=120)
    found = [msgid for message in read(pot) for msgid in ids_of(message) if msgid and "(s)" in msgid]
    assert found == []


@pytest.mark.parametrize("catalogue", ["messages.pot", "en/LC_MESSAGES/messages.po", "fr/LC_MESSAGES/messages.po"])
def test_no_catalogue_message_says_s_in_parentheses(catalogue):
    found = [msgid for message in read(CATALOGUES / catalogue) for msgid in ids_of(message)
             if msgid and "(s)" in msgid]
    assert found == [], "run make catalogues"


# The glossary: "adresse e-mail" for the address, "e-mail" for the message, never "Email",
# "E-mail", "email" or "mail" alone; the straight apostrophe; no "de"/"le" before a name that may
# start with a vowel ("de Électricité"), which the sentence says otherwise ("de l'entreprise ...").
FORBIDDEN = [
    ("E-mail", re.compile(r"E-mail")),
    ("Email", re.compile(r"Email")),
    ("adresse email", re.compile(r"adresse email", re.IGNORECASE)),
    ("email alone", re.compile(r"(?<![-\w])emails?(?!\w)", re.IGNORECASE)),
    ("mail alone", re.compile(r"(?<![-\w])mails?(?!\w)", re.IGNORECASE)),
    ("curly apostrophe", re.compile("\u2019")),
]
# Dates, times and numbers never start with a vowel ("le %(date)s", "le %(when)s" are right).
NO_ELISION = re.compile(r"\b(de|le) %\((?!date|time|when|zone|num|number|count)\w+\)[sd]", re.IGNORECASE)


def french_messages():
    return [(message.id, text) for message in read(FRENCH) if message.id for text in strings_of(message) if text]


def test_french_follows_the_glossary():
    broken = []
    for msgid, text in french_messages():
        words = PLACEHOLDER.sub("", text)
        broken += [(name, msgid, text) for name, pattern in FORBIDDEN if pattern.search(words)]
        if NO_ELISION.search(text):
            broken.append(("de/le before a name", msgid, text))
    assert broken == []


def button_labels():
    """The msgids that label a button (or a link drawn as one) in the templates."""
    labels = set()
    patterns = [re.compile(r'<button[^>]*>\s*\{\{\s*_\("([^"]+)"\)'),
                re.compile(r'class="button"[^>]*>\s*\{\{\s*_\("([^"]+)"\)'),
                # The admin pages' one-button forms: the label is the first _() among the arguments.
                re.compile(r'(?:row_button|post_button)\((?:[^()]|\([^()]*\))*?_\("([^"]+)"\)')]
    for template in (ROOT / "idp" / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for pattern in patterns:
            labels |= set(pattern.findall(text))
    return labels


INFINITIVE = re.compile(r"^(?:(?:Se|S'|M'|Me) ?)?\w+(?:er|ir|re|oir)\b", re.IGNORECASE)


def test_french_buttons_are_in_the_infinitive():
    labels = button_labels()
    assert {"Sign in", "Save", "Send the request"} <= labels  # the extraction sees the buttons
    french = dict(french_messages())
    wrong = {label: french[label] for label in labels if label in french and not INFINITIVE.match(french[label])}
    assert wrong == {}
