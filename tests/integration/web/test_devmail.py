"""The demo's mailbox page: the file backend's messages, with clickable links, only in the demo."""

import pytest

from idp.extensions import db
from idp.mail import deliver_due, queue_email

pytestmark = pytest.mark.parametrize("config_overrides", [{"demo": True, "mail": {"backend": "file",
                                                                                   "worker": False}}])


def test_lists_and_shows_messages_with_links(app, client):
    with app.test_request_context():
        queue_email("test", "ana@example.com", "en")
        db.session.commit()
    deliver_due()
    index = client.get("/dev/mail/").get_data(as_text=True)
    assert "ana@example.com" in index and "Test message from the business portal" in index
    name = index.split('href="/dev/mail/')[1].split('"')[0]
    shown = client.get(f"/dev/mail/{name}").get_data(as_text=True)
    assert '<a href="http://127.0.0.1:5000">http://127.0.0.1:5000</a>' in shown


def test_message_text_is_escaped(app, client):
    from pathlib import Path

    directory = Path(app.instance_path) / "mail"
    directory.mkdir(parents=True)
    (directory / "x.eml").write_text("To: a@example.com\nSubject: hi\n\n<script>alert(1)</script> "
                                     "http://127.0.0.1:5000/a\"onmouseover=\"x\n")
    shown = client.get("/dev/mail/x.eml").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in shown and "&lt;script&gt;" in shown
    assert 'onmouseover="x' not in shown


@pytest.mark.parametrize("name", ["../secret_key", "..%2Fsecret_key", "missing.eml", "x.txt"])
def test_only_existing_eml_files(client, name):
    assert client.get(f"/dev/mail/{name}").status_code == 404
