"""Schemathesis against /api/v1/openapi.json, as a real user with history.

Every operation in the OpenAPI document is called with generated requests,
schema-valid and schema-invalid ones, by the demo student (a partner, three
weeks of sessions, topics, signals, ratings and sketches), authenticated with
a real bearer token. Each answer must not be a 5xx, must carry a documented
status code and content type, and must match the body schema documented for
that status.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from ally import create_app
from ally.extensions import db
from ally.models import User, utcnow
from ally.services import tokens
from ally.services.demo import DEMO_USERS, seed_demo
from tests.conftest import base_config

# Generated requests per operation and mode: the whole file stays near two
# minutes on a 2-core machine, and CI replays the same requests each run.
MAX_EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
REQUESTS: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def seeded_database(migrated_template: Path, tmp_path_factory) -> Path:
    """A migrated SQLite file holding the demo pair and their history."""
    path = tmp_path_factory.mktemp("fuzz") / "seeded.db"
    shutil.copy(migrated_template, path)
    application = create_app(base_config(path))
    with application.app_context():
        seed_demo(utcnow())
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.session.remove()
        db.engine.dispose()
    return path


class Caller:
    """The demo student's bearer token, minted again if a fuzzed DELETE
    /tokens/{id} revoked it (the next requests must stay authenticated)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.mint()

    def mint(self) -> None:
        """A fresh token for the first demo student."""
        with self.app.app_context():
            user_id = db.session.scalar(
                select(User.id).where(User.email == DEMO_USERS[0].email)
            )
            token, raw = tokens.create_token(user_id, "fuzz")
            self.token_id = token.id
            db.session.remove()
        self.headers = {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def fuzz_app(seeded_database: Path, tmp_path: Path) -> Flask:
    """The app on a fresh copy of the seeded database (one per operation)."""
    path = tmp_path / "ally.db"
    shutil.copy(seeded_database, path)
    return create_app(base_config(path))


@pytest.fixture
def caller(fuzz_app: Flask) -> Caller:
    """The demo student Ana (a partner, sessions, topics, ratings) as caller."""
    return Caller(fuzz_app)


def _load_schema():
    """The OpenAPI document the app serves (built from its routes alone, so an
    app on an empty in-memory database is enough to read it)."""
    document_app = create_app(base_config(Path(":memory:")))
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", document_app)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        # The caller's bearer token is the test's, never a fuzzed header.
        with_security_parameters=False,
    )
    return loaded


# Loaded at collection so each operation is its own test with its own database
# (a fixture-loaded schema runs every operation inside one test).
schema = _load_schema()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_documented(case, fuzz_app: Flask, caller: Caller) -> None:
    """No 5xx; a documented status, content type, headers and body; and
    schema-invalid requests refused with a 4xx."""
    REQUESTS[case.operation.label] += 1
    response = case.call(headers=caller.headers, app=fuzz_app)
    STATUSES[f"{response.status_code // 100}xx"] += 1
    case.validate_response(
        response,
        checks=CHECKS,
        headers=caller.headers,
        transport_kwargs={"app": fuzz_app},
    )
    if (
        case.operation.label == "DELETE /api/v1/tokens/{token_id}"
        and response.status_code == 204
        and case.path_parameters.get("token_id") == caller.token_id
    ):
        caller.mint()


def test_requests_were_fuzzed(capsys: pytest.CaptureFixture[str]) -> None:
    """Say how many requests the run made (runs after the operations)."""
    total = sum(REQUESTS.values())
    with capsys.disabled():
        print(f"\nAPI fuzzing: {total} requests over {len(REQUESTS)} operations")
        print(
            "  answers: " + ", ".join(f"{n} {k}" for k, n in sorted(STATUSES.items()))
        )
        for label, count in sorted(REQUESTS.items()):
            print(f"  {count:5d}  {label}")
    operations = [op.ok() for op in schema.get_all_operations()]
    if len(REQUESTS) == len(operations):  # the whole file ran, not a selection
        assert total >= len(operations) * 10
