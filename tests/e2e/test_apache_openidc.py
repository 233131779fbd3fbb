"""A relying party in wide production use: Apache httpd with Debian's mod_auth_openidc, on loopback.

It discovers the provider, signs in through our login page (PKCE, RFC 9207 iss check), receives
the claims, revokes its tokens at sign-out and signs out through the end-session endpoint,
sending only id_token_hint and post_logout_redirect_uri.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.oidc_support import hidden_fields, start_provider, stop_provider
from tests.factories import PASSWORD
from tests.smtp import free_port

pytestmark = pytest.mark.e2e

APACHE = shutil.which("apache2") or ("/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None)
MODULES = Path("/usr/lib/apache2/modules")
SECRET = "apache-secret-0123456789abcdef"


def _config(directory: Path, port: int, provider: str) -> Path:
    root = directory / "htdocs"
    (root / "protected").mkdir(parents=True)
    (root / "protected" / "index.html").write_text("<p>protected content</p>\n")
    (root / "bye.html").write_text("<p>signed out</p>\n")
    user = "User daemon\nGroup daemon\n" if os.geteuid() == 0 else ""
    base = f"http://127.0.0.1:{port}"
    text = f"""
ServerRoot "{directory}"
DefaultRuntimeDir "{directory}"
PidFile "{directory}/httpd.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1:{port}
{user}
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
ErrorLog "{directory}/error.log"
LogLevel warn auth_openidc:debug
DocumentRoot "{root}"

OIDCProviderMetadataURL {provider}/.well-known/openid-configuration
OIDCClientID apache
OIDCClientSecret {SECRET}
OIDCRedirectURI {base}/protected/redirect_uri
OIDCCryptoPassphrase apache-crypto-passphrase-0123456789
OIDCScope "openid email profile companies"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRemoteUserClaim sub
OIDCPassClaimsAs environment
OIDCInfoHook iat access_token id_token userinfo refresh_token session
OIDCDefaultLoggedOutURL {base}/bye.html
OIDCCacheType shm

<Directory />
  AllowOverride None
</Directory>

<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
"""
    path = directory / "httpd.conf"
    path.write_text(text)
    return path


@pytest.fixture
def apache(backend, tmp_path):
    if APACHE is None or not (MODULES / "mod_auth_openidc.so").exists():
        pytest.fail("apache2 or mod_auth_openidc is missing (`make test` installs them): "
                    "apt-get update && apt-get install -y apache2 libapache2-mod-auth-openidc")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider = start_provider(backend, tmp_path, clients=[{
        "client_id": "apache", "secret": SECRET, "redirect_uris": [base + "/protected/redirect_uri"],
        "post_logout_redirect_uris": [base + "/bye.html"], "grant_types": ["authorization_code", "refresh_token"],
    }])
    # Apache's workers drop to `daemon` when started as root: they need a world-readable folder,
    # which pytest's private temporary folder is not.
    directory = Path(tempfile.mkdtemp(prefix="idp-apache-"))
    os.chmod(directory, 0o755)  # noqa: S103 - Apache's unprivileged workers read it
    process = None
    try:
        created = provider.idp("users", "create", "--email", "marc@example.com", "--given-name", "Marc",
                               "--family-name", "Dupont", "--password-stdin", input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        config = _config(directory, port, provider.url)
        check = subprocess.run([APACHE, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30,
                               check=False)
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen([APACHE, "-X", "-f", str(config)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, (directory / "error.log").read_text()[-3000:]
            try:
                requests.get(base + "/bye.html", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield provider, base, directory
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)
        stop_provider(provider, backend, tmp_path)


def test_mod_auth_openidc_signs_in_and_out(apache):
    provider, base, directory = apache
    browser = requests.Session()
    login = browser.get(base + "/protected/index.html", timeout=15)
    assert login.status_code == 200, (directory / "error.log").read_text()[-3000:]
    assert login.url.startswith(provider.url + "/login?interaction=")
    data = hidden_fields(login.text, "/login")
    data.update({"login": "marc@example.com", "password": PASSWORD})
    page = browser.post(provider.url + "/login", data=data, timeout=15)
    assert page.url == base + "/protected/index.html", (directory / "error.log").read_text()[-3000:]
    assert "protected content" in page.text

    info = browser.get(base + "/protected/redirect_uri?info=json", timeout=15)
    assert info.status_code == 200, (directory / "error.log").read_text()[-3000:]
    session = info.json()
    assert session["userinfo"]["email"] == "marc@example.com"
    assert session["userinfo"]["family_name"] == "Dupont"
    id_token = session["id_token"]
    assert id_token["iss"] == provider.url and id_token["aud"] == "apache"
    access_token, refresh_token = session["access_token"], session["refresh_token"]

    auth = ("apache", SECRET)
    assert requests.post(provider.url + "/introspect", data={"token": refresh_token}, auth=auth,
                         timeout=10).json()["active"] is True

    # Sign out: mod_auth_openidc revokes its tokens, then goes to the end-session endpoint.
    out = browser.get(base + "/protected/redirect_uri", params={"logout": base + "/bye.html"}, timeout=15)
    assert out.url == base + "/bye.html", [r.url for r in out.history]
    ended = [r.url for r in out.history if r.url.startswith(provider.url + "/logout")]
    assert ended and "id_token_hint=" in ended[0] and "post_logout_redirect_uri=" in ended[0]
    for token in (refresh_token, access_token):
        assert requests.post(provider.url + "/introspect", data={"token": token}, auth=auth,
                             timeout=10).json() == {"active": False}
    # Signed out at the provider too: the protected page asks for a sign-in again.
    again = browser.get(base + "/protected/index.html", timeout=15)
    assert again.url.startswith(provider.url + "/login?interaction=")
