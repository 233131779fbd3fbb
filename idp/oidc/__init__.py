"""The OpenID Connect protocol: endpoints, grants, tokens, keys."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.oidc import logout

    app.register_blueprint(logout.bp)
