"""URL converters: ids in paths are bounded like the database's integers."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# PostgreSQL's INTEGER (SQLite's is wider): a larger id cannot exist, so the
# URL simply does not match (404) instead of overflowing in the driver (500).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` limited to 0..MAX_ID."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def id_schema(converter: IdConverter) -> dict:
    """The OpenAPI schema of an id in a path."""
    return {"type": "integer", "minimum": 0, "maximum": MAX_ID}
