"""The OpenID Connect protocol: endpoints, grants, tokens, keys."""

from __future__ import annotations

from typing import Any

from flask import Flask


def init_app(app: Flask) -> None:
    from idp import signals
    from idp.extensions import csrf
    from idp.oidc import authorize, backchannel, endpoints, logout
    from idp.oidc.clients import client_table
    from idp.oidc.documents import PublicDocuments
    from idp.oidc.keys import KeyRing
    from idp.oidc.server import create_server
    from idp.oidc.token_endpoint import TokenEndpoint

    config = app.config["IDP"]
    app.extensions["idp.clients"] = client_table(config.clients)
    app.extensions["idp.keys"] = KeyRing(app)
    app.extensions["idp.server"] = create_server(app)

    csrf.exempt(endpoints.bp)
    app.register_blueprint(logout.bp)
    app.register_blueprint(authorize.bp)
    app.register_blueprint(endpoints.bp)
    app.wsgi_app = TokenEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = PublicDocuments(app, app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request
    def _start_backchannel_sender() -> None:
        # A serving process delivers queued logout tokens (also those left from before a restart).
        if "idp.backchannel_sender" not in app.extensions:
            backchannel.ensure_sender(app)

    # weak=False: the receivers stay connected for the life of the process.
    signals.user_disabled.connect(_on_user_gone, weak=False)
    signals.sessions_ended.connect(_on_user_gone, weak=False)
    signals.memberships_changed.connect(_on_memberships_changed, weak=False)


def _on_memberships_changed(user: Any, **_: Any) -> None:
    """A role, admin flag or membership changed: refresh tokens go, so that the portals' next
    tokens come through the pipeline again, where portal_access rechecks the role."""
    from flask import current_app

    from idp.oidc.tokens import revoke_user_tokens

    if "idp.server" in current_app.extensions:
        revoke_user_tokens(user)


def _on_user_gone(user: Any, **_: Any) -> None:
    """A disabled user, or one whose sessions all ended, keeps no refresh token and no RP session."""
    from flask import current_app

    from idp.oidc import backchannel
    from idp.oidc.tokens import revoke_user_tokens

    if "idp.server" not in current_app.extensions:
        return
    revoke_user_tokens(user)
    if backchannel.queue_logout(user, None):
        backchannel.notify()
