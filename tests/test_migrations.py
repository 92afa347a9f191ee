"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ally.extensions import db


def test_models_and_migrations_agree(app):
    """A freshly migrated database needs no further migration (autogenerate empty)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                # APScheduler owns its job table; the migrations leave it alone.
                "include_object": lambda obj, name, type_, *_: (
                    not (type_ == "table" and name == "apscheduler_jobs")
                ),
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
