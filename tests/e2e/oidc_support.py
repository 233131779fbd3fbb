"""Driving a live provider over HTTP: a person's browser made of `requests`, and JWT checks with PyJWT."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt as pyjwt
import requests

HIDDEN_RE = re.compile(r'<input[^>]*type="hidden"[^>]*>')
NAME_RE = re.compile(r'name="([^"]+)"')
VALUE_RE = re.compile(r'value="([^"]*)"')
CONSENT_ACTION_RE = re.compile(r'<form[^>]*method="post"[^>]*action="(/consent[^"]*)"')


def hidden_fields(html: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posting to `action` (CSRF token, interaction id...)."""
    import html as html_lib

    start = html.find(f'action="{action}')
    assert start >= 0, f"no form posting to {action}"
    end = html.find("</form>", start)
    fields = {}
    for tag in HIDDEN_RE.findall(html[start:end]):
        name = NAME_RE.search(tag)
        value = VALUE_RE.search(tag)
        if name:
            fields[name.group(1)] = html_lib.unescape(value.group(1)) if value else ""
    return fields


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """A person's browser: follows the provider's redirects, signs in and consents when asked."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.pages: list[str] = []

    def go(self, url: str, login: str | None = None, password: str | None = None, consent: bool | None = None,
           stop: str | None = None, limit: int = 15) -> str:
        """Follow redirects from `url` until one leaves the provider (or reaches `stop`); that URL."""
        response = self.session.get(url, allow_redirects=False, timeout=10)
        for _ in range(limit):
            if response.status_code not in (301, 302, 303):
                return self._page(response, login, password, consent, stop, limit)
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.base) or (stop and location.startswith(stop)):
                return location
            response = self.session.get(location, allow_redirects=False, timeout=10)
        raise AssertionError("too many redirects")

    def _page(self, response: requests.Response, login: str | None, password: str | None, consent: bool | None,
              stop: str | None, limit: int) -> str:
        path = urlsplit(response.url).path
        self.pages.append(path)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        if path == "/login":
            assert login is not None and password is not None, "sign-in was asked for"
            data = hidden_fields(response.text, "/login")
            data.update({"login": login, "password": password})
            posted = self.session.post(self.base + "/login", data=data, allow_redirects=False, timeout=10)
            assert posted.status_code == 302, posted.text[:500]
            return self.go(urljoin(posted.url, posted.headers["Location"]), None, None, consent, stop, limit)
        if path == "/consent":
            assert consent is not None, "consent was asked for"
            action = CONSENT_ACTION_RE.search(response.text).group(1)
            data = hidden_fields(response.text, action.split("?")[0])
            data["decision"] = "allow" if consent else "deny"
            posted = self.session.post(urljoin(response.url, action.replace("&amp;", "&")), data=data,
                                       allow_redirects=False, timeout=10)
            return self.go(urljoin(posted.url, posted.headers["Location"]), None, None, None, stop, limit)
        raise AssertionError(f"unexpected page {response.url}: {response.text[:300]}")


def verify(base: str, token: str, audience: str | None = None, typ: str | None = None) -> dict[str, Any]:
    """Verify a JWT's signature against the provider's JWKS with PyJWT."""
    header = pyjwt.get_unverified_header(token)
    if typ is not None:
        assert header.get("typ") == typ, header
    jwks = requests.get(base + "/jwks", timeout=10).json()
    keys = {k["kid"]: k for k in jwks["keys"]}
    key = pyjwt.PyJWK.from_json(json.dumps(keys[header["kid"]]))
    return pyjwt.decode(token, key.key, algorithms=[header["alg"]], audience=audience, issuer=base,
                        options={"verify_aud": audience is not None})


def start_provider(backend: Any, directory: Any, **overrides: Any) -> Any:
    """Write a configuration in `directory`, migrate, and start `idp serve` on a free loopback port."""
    import subprocess

    from tests.conftest import base_config
    from tests.e2e.conftest import IDP, ROOT, LiveServer, write_config
    from tests.smtp import free_port

    port = overrides.pop("port", None) or free_port()
    document = base_config(backend, directory, issuer=f"http://127.0.0.1:{port}", **overrides)
    config_path = write_config(directory / f"idp-{port}.yaml", document)
    result = subprocess.run([IDP, "--config", str(config_path), "db", "upgrade"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    server = LiveServer(config_path, port, directory / f"server-{port}.log")
    server.start()
    return server


def stop_provider(server: Any, backend: Any, directory: Any) -> None:
    from tests.e2e.conftest import _empty_live_tables

    server.stop()
    _empty_live_tables(backend, directory)
