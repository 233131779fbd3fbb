"""Where a redirect may lead: `safe_next`, the one check of every target that comes from a request."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, urlsplit

from flask import request
from werkzeug.urls import iri_to_uri

# Longer than any page of ours with its query; a target is kept only if bounded in size.
NEXT_MAX = 2048

# Never part of an address people follow: controls (C0, DEL, C1), format characters (bidi
# overrides, zero-width), surrogates, private use, unassigned code points, and the line and
# paragraph separators. Browsers and header writers drop some of these silently (a TAB or a
# newline vanishes from a URL), which turns "/\t/evil.example" into "//evil.example".
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _has_refused_character(text: str) -> bool:
    # A backslash is a slash to browsers ("/\evil.example" is another host).
    return "\\" in text or any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as a browser resolves the path before requesting it."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output)


def _is_local_path(text: str) -> bool:
    """A path on this host with an optional query: no scheme, no host, no fragment."""
    if not text.startswith("/") or text.startswith("//") or "#" in text:
        return False
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return False
    path = _remove_dot_segments(parts.path)
    return path.startswith("/") and not path.startswith("//")


def safe_next(value: str | None) -> str | None:
    """`value` as a redirect target (ASCII, percent-encoded) when it is a path on this host, else None.

    Checked as typed, after NFKC folding (a fullwidth solidus is a slash to some software) and
    with its path percent-decoded once (what a server in between may do), so that no reading
    of it names another host or carries a control character.
    """
    if not value or len(value) > NEXT_MAX or _has_refused_character(value):
        return None
    folded = unicodedata.normalize("NFKC", value)
    decoded_path = unquote(value.partition("?")[0], errors="replace")
    for reading in (value, folded, decoded_path):
        if _has_refused_character(reading) or not _is_local_path(reading):
            return None
    return iri_to_uri(value)


# What stays as it is when a path or query is percent-encoded again.
_PATH_SAFE = "/:@!$&'()*+,;=~"


def this_page() -> str:
    """The current page as a target to come back to: the path percent-encoded again (Werkzeug
    hands it over decoded, TABs and all), the query as it came, checked like any target."""
    path = quote(request.path, safe=_PATH_SAFE)
    query = quote(request.query_string, safe=_PATH_SAFE + "%?")
    return safe_next(path + ("?" + query if query else "")) or "/"
