"""The URL converters of every route: numbers in paths are bounded before any query sees them."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

# The largest value of an SQL INTEGER column (PostgreSQL's int4), which every row id here is.
ROW_ID_MAX = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:...>`: ASCII digits only (`\\d` would take "٣"), at most ROW_ID_MAX. A larger number
    is a 404 rather than a query: SQLite raises OverflowError for it, which would be a 500."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ROW_ID_MAX)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: a rule is compiled with the converters of that moment."""
    app.url_map.converters["int"] = RowIdConverter
