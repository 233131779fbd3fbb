"""SMTP over STARTTLS and implicit TLS, with authentication, against a real server with its own CA."""

import datetime
import ipaddress
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from idp.extensions import db
from idp.mail import deliver_due, queue_email
from idp.models import OutboxMessage
from tests.smtp import SmtpSink, _Handler, free_port


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder


def server_context(folder):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"idp" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


class TlsController(Controller):
    def _trigger_server(self):
        # aiosmtpd's own probe would speak TLS without our CA: a bare TCP connection is enough
        # to make it create the server.
        with socket.create_connection((self.hostname, self.port), timeout=2):
            pass


def send_one(make_app, smtp_settings):
    application = make_app(mail={"backend": "smtp", "worker": False, "smtp": smtp_settings})
    with application.app_context(), application.test_request_context():
        queue_email("test", "ana@example.com", "en")
        db.session.commit()
        sent = deliver_due()
        row = db.session.scalars(select(OutboxMessage)).one()
        status, error = row.status, row.last_error
    return sent, status, error


@pytest.mark.parametrize(("login", "password", "delivered"), [("idp", "s3cret", True), ("idp", "wrong", False)],
                         ids=["good-credentials", "bad-credentials"])
def test_starttls_with_authentication(make_app, certificates, login, password, delivered):
    sink = SmtpSink()
    controller = TlsController(_Handler(sink), hostname="127.0.0.1", port=sink.port,
                               tls_context=server_context(certificates), require_starttls=True,
                               authenticator=authenticator, auth_required=True)
    controller.start()
    try:
        sent, status, error = send_one(make_app, {
            "host": "127.0.0.1", "port": sink.port, "starttls": True, "username": login, "password": password,
            "ca_file": str(certificates / "ca.pem"), "timeout": 5})
    finally:
        controller.stop()
    if delivered:
        assert (sent, status) == (1, "sent") and len(sink.messages) == 1
    else:
        assert (sent, status) == (0, "queued") and "SMTPAuthenticationError" in error and sink.messages == []


def test_implicit_tls(make_app, certificates):
    sink = SmtpSink()
    controller = TlsController(_Handler(sink), hostname="127.0.0.1", port=sink.port,
                               ssl_context=server_context(certificates))
    controller.start()
    try:
        sent, status, _ = send_one(make_app, {"host": "127.0.0.1", "port": sink.port, "starttls": False,
                                                       "ssl": True, "ca_file": str(certificates / "ca.pem")})
    finally:
        controller.stop()
    assert (sent, status) == (1, "sent") and len(sink.messages) == 1


def test_an_untrusted_certificate_is_refused(make_app, certificates):
    sink = SmtpSink()
    controller = TlsController(_Handler(sink), hostname="127.0.0.1", port=sink.port,
                               tls_context=server_context(certificates), require_starttls=True)
    controller.start()
    try:
        sent, status, error = send_one(make_app, {"host": "127.0.0.1", "port": sink.port,
                                                           "starttls": True, "timeout": 5})
    finally:
        controller.stop()
    assert (sent, status) == (0, "queued") and "CERTIFICATE_VERIFY_FAILED" in error


def test_nothing_listens(make_app):
    sent, status, error = send_one(make_app, {"host": "127.0.0.1", "port": free_port(), "starttls": False})
    assert (sent, status) == (0, "queued") and "ConnectionRefusedError" in error
