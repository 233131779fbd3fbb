"""Second factors: the sign-in step `mfa` (order 40) and the person's own factors at /account/mfa.

`signin` holds the step's pages (/mfa, and the passkey sign-in on the login page); `manage` the
pages that enroll, rename and remove factors, also used for enrollment inside a sign-in when the
policy requires a factor the person does not have yet. The rules are idp.security.mfa's.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mfa", __name__)

from idp.flows.mfa import manage, signin  # noqa: E402 - they add their views to `bp`

flow = signin.build_flow(bp)

__all__ = ["bp", "flow", "manage", "signin"]
