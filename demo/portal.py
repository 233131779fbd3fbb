"""A small relying party: Authlib's Flask client, the claims it received, links to the other portal.

Sign-in first tries prompt=none, so a person already signed in at the provider is signed in here
without a click (SSO). Sign-out goes through the provider's end_session_endpoint, and the
provider's back-channel logout token ends this portal's session when another portal signs out.
The page speaks English or French (?lang=, else the browser's Accept-Language) and shows roles by
the labels of the provider's configuration (IDP_CONFIG, else config/demo.yaml), claims as plain JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import yaml
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ISSUER = "http://127.0.0.1:5000"
PORTALS: dict[str, dict[str, Any]] = {
    "shop": {"title": {"en": "Web shop", "fr": "Boutique en ligne"}, "port": 5001,
             "secret": "shop-demo-secret-0123456789", "other": "pricing"},
    "pricing": {"title": {"en": "Pricing portal", "fr": "Portail des prix"}, "port": 5002,
                "secret": "pricing-demo-secret-0123456789", "other": "shop"},
}
LANGUAGES = ("en", "fr")
# The demo's few words; it is a relying party of its own, outside the provider's catalogues.
TEXTS: dict[str, dict[str, str]] = {
    "en": {"other_portal": "Other portal:", "signed_in_as": "Signed in as", "acting_for": "for",
           "admin": "administrator", "sign_out": "Sign out (of every portal)", "companies": "Your companies",
           "id_token": "ID token claims", "userinfo": "Userinfo", "not_signed_in": "You are not signed in.",
           "sign_in": "Sign in", "language": "Language"},
    "fr": {"other_portal": "Autre portail :", "signed_in_as": "Connecté en tant que", "acting_for": "pour",
           "admin": "administrateur", "sign_out": "Se déconnecter (de tous les portails)",
           "companies": "Vos entreprises", "id_token": "Revendications du jeton d'identité (ID token)",
           "userinfo": "Informations de l'utilisateur (userinfo)", "not_signed_in": "Vous n'êtes pas connecté.",
           "sign_in": "Se connecter", "language": "Langue"},
}
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"


def role_labels(config_path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """`roles:` of the provider's configuration ({code: {en, fr}}); empty when it cannot be read."""
    path = Path(config_path or os.environ.get("IDP_CONFIG") or DEMO_CONFIG)
    try:
        roles = yaml.safe_load(path.read_text(encoding="utf-8")).get("roles")
    except (OSError, yaml.YAMLError, AttributeError):
        roles = None
    return roles if isinstance(roles, dict) else {}


def readable_json(value: Any) -> str:
    """Claims as people read them: indented, "Électricité" rather than "\\u00c9lectricit\\u00e9"."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def create_portal(name: str, issuer: str = ISSUER, ports: dict[str, int] | None = None,
                  roles: dict[str, dict[str, str]] | None = None) -> Flask:
    """The portal `name` ("shop" or "pricing"); `ports` overrides where each portal listens (tests);
    `roles` the role labels (default: role_labels())."""
    settings = PORTALS[name]
    roles = role_labels() if roles is None else roles
    ports = ports or {key: value["port"] for key, value in PORTALS.items()}
    base = f"http://127.0.0.1:{ports[name]}"
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_hex(32), SESSION_COOKIE_NAME=f"{name}_session")
    app.add_template_filter(readable_json)
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
                _clear_session()

    def _clear_session() -> None:
        language = session.get("lang")
        session.clear()
        if language:
            session["lang"] = language  # the language is the visitor's choice, not the sign-in's

    def language() -> str:
        chosen = request.args.get("lang")
        if chosen in LANGUAGES:
            session["lang"] = chosen
        return session.get("lang") or request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]

    def role_label(code: str | None, lang: str) -> str:
        labels = roles.get(code or "")
        if not isinstance(labels, dict):
            return str(code or "")  # a role the configuration does not name: its code, as received
        return str(labels.get(lang) or labels.get("en") or code)

    @app.get("/")
    def home() -> Any:
        user = session.get("user")
        if user is None and not session.get("tried_sso") and request.args.get("error") is None:
            session["tried_sso"] = True
            return oauth.idp.authorize_redirect(base + "/callback", prompt="none", ui_locales=language())
        lang = language()
        return render_template("portal.html", lang=lang, t=TEXTS[lang], languages=LANGUAGE_NAMES,
                               title=settings["title"][lang], user=user, info=session.get("userinfo"),
                               role_label=lambda code: role_label(code, lang), other_title=other["title"][lang],
                               other_url=f"http://127.0.0.1:{ports[settings['other']]}/")

    @app.get("/login")
    def login() -> Any:
        return oauth.idp.authorize_redirect(base + "/callback", ui_locales=language())

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
        _clear_session()
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
    """`python -m demo.portal NAME [ISSUER SHOP_PORT PRICING_PORT]` (the launcher passes all four)."""
    name = sys.argv[1]
    issuer, ports = ISSUER, None
    if len(sys.argv) == 5:
        issuer, ports = sys.argv[2], {"shop": int(sys.argv[3]), "pricing": int(sys.argv[4])}
    port = ports[name] if ports else PORTALS[name]["port"]
    create_portal(name, issuer, ports).run(host="127.0.0.1", port=port, use_reloader=False)


if __name__ == "__main__":
    main()
