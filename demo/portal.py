"""A small relying party: Authlib's Flask client, the claims it received, links to the other portal.

Sign-in first tries prompt=none, so a person already signed in at the provider is signed in here
without a click (SSO). Sign-out goes through the provider's end_session_endpoint, and the
provider's back-channel logout token ends this portal's session when another portal signs out.
"""

from __future__ import annotations

import secrets
import sys
import threading
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ISSUER = "http://127.0.0.1:5000"
PORTALS: dict[str, dict[str, Any]] = {
    "shop": {"title": "Web shop", "port": 5001, "secret": "shop-demo-secret-0123456789", "other": "pricing"},
    "pricing": {"title": "Pricing portal", "port": 5002, "secret": "pricing-demo-secret-0123456789",
                "other": "shop"},
}


def create_portal(name: str, issuer: str = ISSUER, ports: dict[str, int] | None = None) -> Flask:
    """The portal `name` ("shop" or "pricing"); `ports` overrides where each portal listens (tests)."""
    settings = PORTALS[name]
    ports = ports or {key: value["port"] for key, value in PORTALS.items()}
    base = f"http://127.0.0.1:{ports[name]}"
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_hex(32), SESSION_COOKIE_NAME=f"{name}_session")
    oauth = OAuth(app)
    oauth.register("idp", client_id=name, client_secret=settings["secret"],
                   server_metadata_url=issuer + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile email companies", "code_challenge_method": "S256"})
    # sid -> ended: filled by back-channel logout; this demo keeps it in memory (one process).
    ended: set[str] = set()
    lock = threading.Lock()
    other = PORTALS[settings["other"]]

    @app.before_request
    def drop_ended_session() -> None:
        user = session.get("user")
        with lock:
            if user and user.get("sid") in ended:
                session.clear()

    @app.get("/")
    def home() -> Any:
        user = session.get("user")
        if user is None and not session.get("tried_sso") and request.args.get("error") is None:
            session["tried_sso"] = True
            return oauth.idp.authorize_redirect(base + "/callback", prompt="none")
        return render_template("portal.html", title=settings["title"], user=user, info=session.get("userinfo"),
                               other_title=other["title"], other_url=f"http://127.0.0.1:{ports[settings['other']]}/")

    @app.get("/login")
    def login() -> Any:
        return oauth.idp.authorize_redirect(base + "/callback")

    @app.get("/callback")
    def callback() -> Any:
        if request.args.get("error"):
            # login_required after prompt=none: show the "Sign in" button.
            return redirect(url_for("home", error=request.args["error"]))
        token = oauth.idp.authorize_access_token()
        session["user"] = dict(token["userinfo"])
        session["id_token"] = token["id_token"]
        session["userinfo"] = oauth.idp.userinfo(token=token)
        session.pop("tried_sso", None)
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout() -> Any:
        id_token = session.get("id_token")
        session.clear()
        session["tried_sso"] = True  # back on the home page, do not sign in again by SSO
        metadata = oauth.idp.load_server_metadata()
        params = {"post_logout_redirect_uri": base + "/", "client_id": name}
        if id_token:
            params["id_token_hint"] = id_token
        return redirect(metadata["end_session_endpoint"] + "?" + urlencode(params))

    @app.post("/backchannel")
    def backchannel() -> Any:
        """OpenID Connect Back-Channel Logout 1.0: verify the logout token, end that session here."""
        token = request.form.get("logout_token", "")
        try:
            jwks = requests.get(oauth.idp.load_server_metadata()["jwks_uri"], timeout=5).json()
            decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256"])
            JWTClaimsRegistry(exp={"essential": True}).validate(decoded.claims)
            claims = decoded.claims
        except (JoseError, ValueError, KeyError, requests.RequestException):
            return {"error": "invalid_request"}, 400
        if claims.get("iss") != issuer or claims.get("aud") != name or "nonce" in claims:
            return {"error": "invalid_request"}, 400
        with lock:
            if claims.get("sid"):
                ended.add(claims["sid"])
        return "", 200

    return app


def main() -> None:
    name = sys.argv[1]
    create_portal(name).run(host="127.0.0.1", port=PORTALS[name]["port"], use_reloader=False)


if __name__ == "__main__":
    main()
