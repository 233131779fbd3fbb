"""Lists that stay fast however long they grow: keyset pages, counts by COUNT, prefix searches.

A page is the rows after the last one shown, in a total order that ends with a unique column
(`WHERE (a, b, id) > (:a, :b, :id) ORDER BY a, b, id LIMIT n`): an index walk whatever the page
number, where OFFSET would read and skip every row before it. The position travels in the
address as `after`, the sort values of the last row shown (base64url of JSON): opaque to people,
never trusted beyond being compared with.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import request
from sqlalchemy import Select, and_, func, or_, select

from idp.extensions import db

PAGE_SIZE = 50
CURSOR_MAX = 600  # characters of `after`: a few sort values


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str | None, length: int) -> list[Any] | None:
    """The sort values of `after`, or None for a first page (also for anything malformed)."""
    if not text or len(text) > CURSOR_MAX:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(values, list) or len(values) != length:
        return None
    if not all(value is None or isinstance(value, str | int | bool) for value in values):
        return None
    return values


def _after(columns: Sequence[Any], values: Sequence[Any], descending: bool) -> Any:
    """Rows strictly after `values` in the order of `columns` (all ascending, or all descending).

    Written out as (a > x) OR (a = x AND b > y) ...: row-value comparison is not on every backend,
    and NULL sort values are avoided by the callers (coalesce).
    """
    clauses = []
    for index, column in enumerate(columns):
        value = _typed(column, values[index])
        beyond = column < value if descending else column > value
        clauses.append(and_(*[columns[i] == _typed(columns[i], values[i]) for i in range(index)], beyond))
    return or_(*clauses)


def _typed(column: Any, value: Any) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


@dataclass
class Page:
    """One page of a list: its rows, the total matching (by COUNT), the address of the next page."""

    rows: list[Any]
    total: int
    next_after: str | None = None
    first: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def keyset_page(query: Select[Any], order: Sequence[Any], key: Callable[[Any], Sequence[Any]], *,
                descending: bool = False, size: int = PAGE_SIZE, count: bool = True) -> Page:
    """The page of `query` after the request's `after`, in `order` (ending with a unique column).

    `key(row)` gives a row's values of `order`, for the next page's address. `count` adds the total
    matching rows (a COUNT over the same filters, without the order or the page).
    """
    values = decode_cursor(request.args.get("after"), len(order))
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one() \
        if count else 0
    paged = query
    if values is not None:
        paged = paged.where(_after(order, values, descending))
    paged = paged.order_by(*[column.desc() if descending else column for column in order]).limit(size + 1)
    rows = list(db.session.execute(paged).unique().scalars().all())
    next_after = encode_cursor(key(rows[size - 1])) if len(rows) > size else None
    return Page(rows=rows[:size], total=total, next_after=next_after, first=values is None)


def prefix_pattern(text: str) -> str:
    """`text%` for LIKE with `\\` as the escape: the typed characters match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_text(limit: int = 100) -> str:
    return (request.args.get("q") or "").strip()[:limit]
