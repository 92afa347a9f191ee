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


def test_migrating_leaves_the_apps_loggers_working(make_app, tmp_path):
    import logging

    from ally.database import upgrade_database

    room_log = logging.getLogger("ally.services.room.events")  # exists before migrating
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade_database(app)  # what `python app.py` does at every start
    # Alembic's logging setup used to disable every logger already made, so
    # the server's own error logs went nowhere.
    assert not room_log.disabled
    assert not logging.getLogger("ally.services.room.signal_store").disabled
