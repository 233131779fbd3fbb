"""The company directory: customers known to the business, loaded from CSV or YAML."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from stdnum.fr import siren

from idp import audit
from idp.config import CompaniesConfig
from idp.extensions import db
from idp.models import Company
from idp.models.base import new_public_id, utcnow
from idp.models.companies import hash_member_code
from idp.text import has_control_characters

COLUMNS = ("id", "name", "address", "city", "postal_code", "phone", "member_code", "active")
# Optional: a file without it leaves the companies' branches as they are.
BRANCHES = "branches"  # "MTL;QC" (a YAML item may give a list)
BRANCH_MAX = 100  # the longest branch a membership holds (idp.companies.BRANCH_MAX)
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
    if isinstance(value, list):
        return ";".join(_as_text(item) for item in value)
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
            row = {column: _as_text(item.get(column)) for column in COLUMNS}
            if BRANCHES in item:
                row[BRANCHES] = _as_text(item[BRANCHES])
            rows.append(row)
        return rows
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DirectoryError([f"header: missing {_plural(len(missing), 'column')} {', '.join(missing)}"])
        return list(reader)


def known_identifiers(config: CompaniesConfig) -> set[str] | None:
    """The identifiers of the directory file (as imports store them), or None without a readable one."""
    if not config.directory:
        return None
    try:
        rows = _read_rows(Path(config.directory))
    except (OSError, DirectoryError):
        return None
    return {ident for row in rows if (ident := check_identifier(row.get("id") or "", config)) is not None}


def _branches(value: str | None) -> list[str]:
    """The branch names of a `branches` cell, in order: "MTL;QC" is MTL and QC."""
    return [name.strip() for name in (value or "").split(";") if name.strip()]


def import_companies(path: Path, progress: Callable[[str], None] | None = None) -> ImportSummary:
    """Create or update every company in the file (CSV or YAML); nothing is written if any row is wrong.

    `progress` is told every thousand rows."""
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
                   for column in (*COLUMNS, BRANCHES) if has_control_characters(row.get(column) or "")]
        errors += [f"{where}: branch {name[:20]!r}... is longer than {BRANCH_MAX} characters"
                   for name in _branches(row.get(BRANCHES)) if len(name) > BRANCH_MAX]
        rows.append((ident, row, active in TRUE))
    if errors:
        raise DirectoryError(errors)
    summary = _write(rows, progress)
    audit.record("companies.imported", created=summary.created, updated=summary.updated,
                 deactivated=summary.deactivated, unchanged=summary.unchanged, file=path.name)
    db.session.commit()
    return summary


@dataclass
class ImportSummary:
    """What an import did: companies created, updated (of which deactivated by the file), unchanged."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0


# The columns an import writes, and how they are read from the database once for the whole file.
_FIELDS = ("name", "address", "city", "postal_code", "phone", "member_code_hash", "active", "branches")
PROGRESS_EVERY = 1000
WRITE_BATCH = 1000


def _wanted(row: dict[str, str], active: bool, current: dict[str, Any] | None) -> dict[str, Any]:
    """The company's columns as the row sets them (a row without a code or branches keeps the current)."""
    values: dict[str, Any] = {
        "name": row["name"].strip(), "address": (row["address"] or "").strip(), "city": (row["city"] or "").strip(),
        "postal_code": (row["postal_code"] or "").strip(), "phone": (row["phone"] or "").strip(), "active": active,
        "member_code_hash": hash_member_code(row["member_code"]) if (row["member_code"] or "").strip()
        else (current or {}).get("member_code_hash"),
        "branches": (";".join(dict.fromkeys(_branches(row[BRANCHES]))) or None) if row.get(BRANCHES) is not None
        else (current or {}).get("branches"),
    }
    return values


def _write(rows: list[tuple[str, dict[str, str], bool]], progress: Callable[[str], None] | None) -> ImportSummary:
    """One read of the companies, then multi-row INSERTs and UPDATEs by primary key (executemany):
    an unchanged file of 20,000 rows costs a SELECT, not 20,000."""
    existing = {row.external_id: row._asdict() for row in db.session.execute(
        select(Company.id, Company.external_id, *(getattr(Company, name) for name in _FIELDS)))}
    summary = ImportSummary()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for number, (ident, row, active) in enumerate(rows, start=1):
        current = existing.get(ident)
        values = _wanted(row, active, current)
        if current is None:
            record = {"external_id": ident, "public_id": new_public_id(), "created_at": now, "updated_at": now,
                      "lock_version": 0, **values}
            inserts.append(record)
            existing[ident] = record  # a file naming an identifier twice: the later row wins
            summary.created += 1
        elif any(current[name] != values[name] for name in _FIELDS):
            if current.get("id") is not None:
                updates.append({"id": current["id"], "updated_at": now, **values})
                summary.updated += 1
                summary.deactivated += bool(current["active"] and not active)
            current.update(values)  # (for a company this file creates, its INSERT)
        else:
            summary.unchanged += 1
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(f"{number} of {len(rows)} rows read")
    for start in range(0, len(inserts), WRITE_BATCH):
        db.session.execute(insert(Company), inserts[start:start + WRITE_BATCH])
    for start in range(0, len(updates), WRITE_BATCH):
        db.session.execute(update(Company), updates[start:start + WRITE_BATCH])
    return summary
