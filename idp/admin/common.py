"""What every administration page needs: the signed-in person, or a redirect to sign in."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from idp.accounts import auth
from idp.models import User


class SignInFirst(Exception):
    """Nobody is signed in: the view answers with a redirect to the sign-in page."""


def signed_in_user() -> User:
    user = auth.current_user()
    if user is None:
        raise SignInFirst()
    return user


def sign_in_redirect() -> Response:
    return auth.sign_in_redirect("admin_companies.index")


def not_found() -> NotFound:
    # A 404 rather than a 403 everywhere: an outsider learns nothing about what exists.
    return NotFound()
