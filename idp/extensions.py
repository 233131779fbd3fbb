"""The Flask extension instances, created unbound; create_app() binds them."""

from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
# No default limits: each view declares its own, and only where it must.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)


def drop_limiter_middleware(app: Flask) -> None:
    """Take out the limiter's before-request check; the limits on views keep working.

    That check applies default and application-wide limits only, and there are none: every
    limit is declared on its view, whose wrapper checks it when the view runs. Yet the check
    costs as much as a small view on every request (a sixth of a token grant).
    """
    if limiter.limit_manager.application_limits or limiter.limit_manager.default_limits:
        raise RuntimeError("application-wide or default limits need the limiter's before-request check")
    app.before_request_funcs[None].remove(limiter._check_request_limit)
