"""Administration pages: company admins (idp.admin.members) and the platform's operators (idp.admin.operators)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.admin import members, operators

    app.register_blueprint(members.bp)
    app.register_blueprint(operators.bp)
