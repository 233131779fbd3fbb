"""safe_next: the one check of every redirect target taken from a request."""

import pytest

from idp.web.redirects import NEXT_MAX, safe_next

REFUSED = [
    ("https://evil.example/", "scheme"),
    ("javascript:alert(1)", "javascript"),
    ("data:text/html,<script>", "data"),
    ("//evil.example", "double-slash"),
    ("///evil.example", "triple-slash"),
    ("/\\evil.example", "backslash"),
    ("\\\\evil.example", "two-backslashes"),
    ("/\t/evil.example/x", "tab"),
    ("/\n/x", "newline"),
    ("/\r/evil.example", "carriage-return"),
    ("/\x00/evil.example", "nul"),
    ("/\x7f/evil.example", "del"),
    ("/\x85/evil.example", "c1-next-line"),
    ("/\u200b/evil.example", "zero-width-space"),
    ("/\u202e/evil.example", "bidi-override"),
    ("/\ufeff/evil.example", "byte-order-mark"),
    ("/\u2028/evil.example", "line-separator"),
    ("/\ue000", "private-use"),
    ("/\uff0fevil.example", "fullwidth-solidus"),
    ("/%2F/evil.example", "encoded-slash"),
    ("/%5Cevil.example", "encoded-backslash"),
    ("/%09/evil.example", "encoded-tab"),
    ("/.//evil.example", "dot-segment"),
    ("/a/..//evil.example", "dot-dot-segment"),
    (" /tools", "leading-space"),
    ("tools", "relative"),
    ("/tools#x", "fragment"),
    ("/" + "a" * NEXT_MAX, "too-long"),
    ("", "empty"),
    (None, "none"),
]
ACCEPTED = [
    ("/", "/", "root"),
    ("/tools", "/tools", "path"),
    ("/admin/operator/users?q=ana", "/admin/operator/users?q=ana", "query"),
    ("/login?next=%2F%2Fevil.example", "/login?next=%2F%2Fevil.example", "encoded-query"),
    ("/été", "/%C3%A9t%C3%A9", "non-ascii-encoded"),
    ("/a b", "/a%20b", "space-encoded"),
    ("/@evil.example", "/@evil.example", "at-sign-is-a-path"),
]


@pytest.mark.parametrize("target", [value for value, _ in REFUSED], ids=[name for _, name in REFUSED])
def test_hostile_targets_are_refused(target):
    assert safe_next(target) is None


@pytest.mark.parametrize(("target", "expected"), [(value, expected) for value, expected, _ in ACCEPTED],
                         ids=[name for _, _, name in ACCEPTED])
def test_paths_on_this_host_are_kept_in_ascii(target, expected):
    assert safe_next(target) == expected
