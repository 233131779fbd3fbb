"""Reading the administration pages as a browser's accessibility tree would: table rows, their row
header, the accessible name of each button, the label of each field."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class Button:
    text: str
    aria_label: str | None

    @property
    def name(self) -> str:
        """The accessible name: aria-label wins over the content (accname 1.2, step 2C before 2F)."""
        return self.aria_label if self.aria_label is not None else self.text


@dataclass
class Row:
    header: str = ""  # the text of <th scope="row">
    buttons: list[Button] = field(default_factory=list)
    field_ids: list[str] = field(default_factory=list)


@dataclass
class Page:
    rows: list[Row] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # for= -> text
    forms: list[dict[str, str]] = field(default_factory=list)  # attributes, plus "fields": names
    scripts: int = 0
    buttons: list[Button] = field(default_factory=list)  # every button of the page, in or out of rows
    field_ids: list[str] = field(default_factory=list)  # every visible field of the page
    links: list[tuple[str, str, str | None]] = field(default_factory=list)  # (href, text, aria-label)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.row: Row | None = None
        self.in_row_header = False
        self.button: Button | None = None
        self.label_for: str | None = None
        self.label_text = ""
        self.link: list[str] | None = None
        self.link_label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "tr":
            self.row = Row()
        elif tag == "th" and values.get("scope") == "row" and self.row is not None:
            self.in_row_header = True
        elif tag == "br" and self.in_row_header and self.row is not None:
            self.row.header += " "
        elif tag == "button":
            self.button = Button("", values.get("aria-label"))
        elif tag == "label":
            self.label_for, self.label_text = values.get("for"), ""
        elif tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            if self.row is not None and values.get("id"):
                self.row.field_ids.append(values["id"])
            if values.get("id"):
                self.page.field_ids.append(values["id"])
        elif tag == "a":
            self.link, self.link_label = [values.get("href", ""), ""], values.get("aria-label")
        elif tag == "form":
            self.page.forms.append({**values, "fields": ""})
        elif tag == "script":
            self.page.scripts += 1
        if tag == "input" and self.page.forms:
            self.page.forms[-1]["fields"] += f" {values.get('name', '')}={values.get('value', '')}"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self.row is not None:
            self.page.rows.append(self.row)
            self.row = None
        elif tag == "th":
            self.in_row_header = False
        elif tag == "button" and self.button is not None:
            self.button.text = " ".join(self.button.text.split())
            if self.row is not None:
                self.row.buttons.append(self.button)
            self.page.buttons.append(self.button)
            self.button = None
        elif tag == "a" and self.link is not None:
            self.page.links.append((self.link[0], " ".join(self.link[1].split()), self.link_label))
            self.link = None
        elif tag == "label" and self.label_for:
            self.page.labels[self.label_for] = " ".join(self.label_text.split())
            self.label_for = None

    def handle_data(self, data: str) -> None:
        if self.in_row_header and self.row is not None:
            self.row.header += data
        if self.button is not None:
            self.button.text += data
        if self.link is not None:
            self.link[1] += data
        if self.label_for:
            self.label_text += data


def read(page_html: str) -> Page:
    reader = _Reader()
    reader.feed(page_html)
    for row in reader.page.rows:
        row.header = " ".join(row.header.split())
    return reader.page


def speak(actions: Any, language: str) -> None:
    """The language switch of every page (it also becomes the account's language)."""
    response = actions.submit("/language", {"language": language, "next": "/admin/"}, form_path="/admin/")
    assert response.status_code == 302


def text(page_html: str) -> str:
    """The page's markup with entities decoded (French apostrophes arrive as &#39;)."""
    return html.unescape(page_html)
