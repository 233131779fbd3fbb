"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, request

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


def init_app(app: Flask) -> None:
    defaults = SECURITY_HEADERS + ((HSTS,) if app.config["IDP"].secure_cookies else ())

    @app.after_request
    def add_headers(response: Response) -> Response:
        # One pass over the headers a view set, rather than a scan per default: this runs on
        # every response, the token endpoint's included.
        headers = response.headers
        present = {key.lower() for key, _value in headers}
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        if "cache-control" not in present and request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        return response
