"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db


def insert_ignoring_conflicts(table, index_elements: list[str]):
    """An INSERT that silently skips rows clashing on a unique key."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def upsert(table, index_elements: list[str], values: dict, update: list[str]):
    """An INSERT that updates the given columns when the unique key exists."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(values)
    return statement.on_conflict_do_update(
        index_elements=index_elements,
        set_={name: statement.excluded[name] for name in update},
    )
