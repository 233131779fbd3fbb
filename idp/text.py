"""Which characters text that people type may hold: the one control-character check shared by the
forms (idp.web.forms), the command line, the directory import and the mail headers."""

from __future__ import annotations

import re
import unicodedata

# Bidirectional marks, embeddings, overrides and isolates make text read differently from what it
# is ("Trojan Source", CVE-2021-42574): a name or a branch never needs them. The zero-width
# (non-)joiners stay allowed: Persian and Indic names are spelt with them.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What a multi-line text (a textarea) may hold besides printable text; browsers send CR LF.
LINE_BREAKS_AND_TABS = frozenset("\r\n\t")
# Cc: C0 (NUL, CR, LF, ESC...), DEL and C1 (NEL...); Zl, Zp: U+2028, U+2029; Cs: lone surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def is_control_character(char: str, *, multiline: bool = False) -> bool:
    """Whether `char` has no place in typed text (with `multiline`, line breaks and tabs do)."""
    if multiline and char in LINE_BREAKS_AND_TABS:
        return False
    return char in BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a character that `is_control_character` refuses."""
    # Printable ASCII, the usual case, is answered without a look-up per character.
    if text.isascii() and text.isprintable():
        return False
    return any(is_control_character(char, multiline=multiline) for char in text)


def without_control_characters(text: str) -> str:
    """`text` on one line: each control character becomes a space, and a run of spaces one space."""
    if not has_control_characters(text):
        return text
    spaced = "".join(" " if is_control_character(char) else char for char in text)
    return re.sub(" {2,}", " ", spaced).strip()
