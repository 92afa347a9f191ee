"""The JSON API under /api/v1, described by /api/v1/openapi.json."""

from __future__ import annotations

from flask import Flask

from ...extensions import csrf
from ..converters import IdConverter, id_schema
from .base import AllyApi, ErrorResponsesPlugin
from .views_accounts import blp as accounts_blp
from .views_notifications import blp as notifications_blp
from .views_partners import blp as partners_blp
from .views_partnerships import blp as partnerships_blp
from .views_reviews import blp as reviews_blp
from .views_sessions import blp as sessions_blp
from .views_topics import blp as topics_blp
from .views_turns import blp as turns_blp

PREFIX = "/api/v1"
BLUEPRINTS = (
    accounts_blp,
    topics_blp,
    partners_blp,
    partnerships_blp,
    sessions_blp,
    notifications_blp,
    reviews_blp,
    turns_blp,
)


def register_api(app: Flask) -> AllyApi:
    """Mount the API blueprints and the OpenAPI document on this app."""
    # One Api per app: its OpenAPI spec is built from this app's routes.
    api = AllyApi(
        app,
        spec_kwargs={
            "extra_plugins": [ErrorResponsesPlugin()],
            "info": {
                "description": (
                    "Ally's JSON API. Auth: Authorization: Bearer <token>, or the "
                    "login cookie plus an X-CSRFToken header on writes. Errors are "
                    "{error, message} with a 4xx status."
                )
            },
        },
    )
    api.register_converter(IdConverter, id_schema)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blp in BLUEPRINTS:
        # Bearer requests carry no cookie to forge; cookie-authenticated writes
        # are checked in base._authenticate instead.
        csrf.exempt(blp)
        api.register_blueprint(blp, url_prefix=PREFIX)
    return api
