"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.datastructures import Headers

# No inline script or style anywhere: the CSP forbids them, so an injection cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # no-referrer: links in pages never leak a token-bearing URL to another site.
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def security_headers(app: Flask) -> tuple[tuple[str, str], ...]:
    """The headers every response of `app` carries unless a view set its own."""
    return SECURITY_HEADERS + ((HSTS,) if app.config["IDP"].secure_cookies else ())


def add_missing(headers: Headers | list[tuple[str, str]], defaults: tuple[tuple[str, str], ...]) -> None:
    # One pass over the headers a view set, rather than a scan per default: this runs on
    # every response, the token endpoint's included.
    present = {key.lower() for key, _value in headers}
    headers.extend([(name, value) for name, value in defaults if name.lower() not in present])


def init_app(app: Flask) -> None:
    defaults = security_headers(app)

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        add_missing(headers, defaults)
        if "Cache-Control" not in headers and request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        return response
