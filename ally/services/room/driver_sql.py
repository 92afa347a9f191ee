"""Core statements compiled once and run straight on a DB-API cursor.

For the room's hottest path only (`live_signals`). SQLAlchemy's work around
each execution (cache key, execution context, result object) costs ~70 µs on
SQLite for a lookup SQLite answers in ~15 µs (docs/performance.md). The
statement is still written with Core and compiled by the engine's dialect, and
every value still goes through its column type's own bind and result
processors, so what is stored and read is exactly what the ORM stores and reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


class DriverStatement:
    """One statement in the dialect's SQL, with its parameter order and types."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        # qmark / numeric dialects (SQLite) take a tuple in this order;
        # pyformat ones (psycopg) take the mapping by name.
        self.order = list(compiled.positiontup) if compiled.positional else None
        self.binders: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.binders[name] = processor
        columns = getattr(statement, "selected_columns", ())
        self.readers = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> tuple | dict[str, Any]:
        """The DB-API parameters for these values, each converted by its type."""
        converted = {
            name: (self.binders[name](value) if name in self.binders else value)
            for name, value in values.items()
        }
        if self.order is None:
            return converted
        return tuple(converted[name] for name in self.order)

    def run(self, cursor: Any, values: Mapping[str, Any]) -> None:
        """Execute with these values (a write)."""
        cursor.execute(self.sql, self.parameters(values))

    def first(self, cursor: Any, values: Mapping[str, Any]) -> tuple | None:
        """Execute and return the first row, each value converted by its type."""
        cursor.execute(self.sql, self.parameters(values))
        row = cursor.fetchone()
        if row is None:
            return None
        return tuple(
            read(value) if read is not None else value
            for read, value in zip(self.readers, row, strict=True)
        )
