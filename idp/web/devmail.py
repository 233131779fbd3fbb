"""/dev/mail: the file backend's mailbox, in the demo only, so a newcomer can click the links."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

_URL = re.compile(r"https?://[^\s<>\"']+")


def _directory() -> Path:
    return Path(current_app.instance_path) / current_app.config["IDP"].mail.directory


def _linkify(text: str) -> Markup:
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(match.group(0)))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.get("/")
def index() -> ResponseReturnValue:
    files = sorted(_directory().glob("*.eml"), reverse=True)[:200] if _directory().is_dir() else []
    messages = []
    for path in files:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes(), headersonly=True)
        messages.append({"name": path.name, "to": message["To"], "subject": message["Subject"],
                         "date": message["Date"]})
    return render_template("dev/mail_index.html", messages=messages)


@bp.get("/<name>")
def show(name: str) -> ResponseReturnValue:
    if not re.fullmatch(r"[\w.-]+\.eml", name):
        abort(404)
    path = _directory() / name
    if not path.is_file():
        abort(404)
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return render_template("dev/mail_show.html", message=message, body=_linkify(text))
