"""Answers whose duration must not depend on whether an account exists.

The views that take an address from a stranger (forgotten password, sign-up, resending a
confirmation) do the same work on both paths, and on top of that wait until a fixed floor has
passed: the floor absorbs the small remaining differences (one more INSERT, a cache miss), so
response times tell nothing about the address.
"""

from __future__ import annotations

import time

from idp.mail import render_email

# Longer than the work on either path (a password hash, a few rows, rendering one email).
RESPONSE_FLOOR_SECONDS = 0.25


class SteadyClock:
    """Started when the request begins; `wait()` pads the response to the floor."""

    def __init__(self, floor: float = RESPONSE_FLOOR_SECONDS) -> None:
        self.floor = floor
        self.started = time.monotonic()

    def wait(self) -> None:
        remaining = self.floor - (time.monotonic() - self.started)
        if remaining > 0:
            time.sleep(remaining)


def rehearse_email(kind: str, locale: str | None, **context: object) -> None:
    """Render an email without queuing it: the unknown-address path pays the same cost."""
    render_email(kind, locale, **context)
