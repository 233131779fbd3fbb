"""The company directory: customers known to the business, loaded from CSV or YAML."""

from __future__ import annotations

import csv
from pathlib import Path

from flask import current_app
from stdnum.fr import siren

from idp import audit
from idp.config import CompaniesConfig
from idp.extensions import db
from idp.models import Company
from idp.text import has_control_characters

COLUMNS = ("id", "name", "address", "city", "postal_code", "phone", "member_code", "active")
TRUE = {"1", "true", "yes", "y", "oui", "active"}
FALSE = {"0", "false", "no", "n", "non", "inactive", ""}


class DirectoryError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def check_identifier(value: str, config: CompaniesConfig) -> str | None:
    """The identifier in its canonical form, or None when it is not valid for the configured kind."""
    import re

    value = value.strip()
    if not value:
        return None
    if config.identifier_kind == "siren":
        compact = siren.compact(value)
        return compact if siren.is_valid(compact) else None
    if config.identifier_kind == "pattern":
        return value if re.fullmatch(config.identifier_pattern or "", value) else None
    return value


def _as_text(value: object) -> str:
    # YAML gives booleans and numbers; quote identifiers with leading zeros, YAML drops them.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plural(count: int, word: str) -> str:
    # The command's own English messages (not translated): "key" or "keys", never "key(s)".
    return word if count == 1 else word + "s"


def _read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (with a header line) or of a YAML list of mappings, as strings."""
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DirectoryError([f"not valid YAML: {exc}"]) from None
        if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
            raise DirectoryError(["the file must be a list of companies (mappings)"])
        rows = []
        for number, item in enumerate(document, start=1):
            missing = [c for c in COLUMNS if c not in item and c != "member_code"]
            if missing:
                raise DirectoryError([f"item {number}: missing {_plural(len(missing), 'key')} {', '.join(missing)}"])
            rows.append({column: _as_text(item.get(column)) for column in COLUMNS})
        return rows
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DirectoryError([f"header: missing {_plural(len(missing), 'column')} {', '.join(missing)}"])
        return list(reader)


def import_companies(path: Path) -> tuple[int, int]:
    """Create or update every company in the file (CSV or YAML); nothing is written if any row is wrong."""
    config = current_app.config["IDP"].companies
    errors: list[str] = []
    rows = []
    # CSV rows are numbered as lines (the header is line 1); YAML items from 1.
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    for number, row in enumerate(_read_rows(path), start=1 if is_yaml else 2):
        where = f"item {number}" if is_yaml else f"line {number}"
        ident = check_identifier(row["id"] or "", config)
        if ident is None:
            errors.append(f"{where}: id {row['id']!r} is not a valid {config.identifier_kind} identifier")
        if not (row["name"] or "").strip():
            errors.append(f"{where}: name is empty")
        active = (row["active"] or "").strip().lower()
        if active not in TRUE | FALSE:
            errors.append(f"{where}: active must be true or false, not {row['active']!r}")
        # A quoted CSV cell may span lines; names reach email subjects, pages and the company claims.
        errors += [f"{where}: {column} contains a control character (a line break, a tab...)"
                   for column in COLUMNS if has_control_characters(row.get(column) or "")]
        rows.append((ident, row, active in TRUE))
    if errors:
        raise DirectoryError(errors)
    created = updated = 0
    for ident, row, active in rows:
        company = db.session.execute(db.select(Company).where(Company.external_id == ident)).scalar_one_or_none()
        if company is None:
            company = Company(external_id=ident)
            db.session.add(company)
            created += 1
        else:
            updated += 1
        company.name = row["name"].strip()
        company.address = (row["address"] or "").strip()
        company.city = (row["city"] or "").strip()
        company.postal_code = (row["postal_code"] or "").strip()
        company.phone = (row["phone"] or "").strip()
        if (row["member_code"] or "").strip():
            company.set_member_code(row["member_code"])
        company.active = active
    audit.record("companies.imported", created=created, updated=updated, file=path.name)
    db.session.commit()
    return created, updated
