"""The API's plumbing: the OpenAPI extension, blueprints, auth and JSON errors."""

from __future__ import annotations

from functools import wraps

import marshmallow as ma
from apispec import BasePlugin
from flask import g, request
from flask_login import current_user
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from ...domain.text import unstorable_reason
from ...domain.timezones import OUT_OF_RANGE, instant_in_range
from ...extensions import csrf
from ...models import User
from ...services import tokens
from ...services.errors import ServiceError, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ErrorSchema(ma.Schema):
    """Every API error: a stable code and a sentence for people."""

    error = ma.fields.String(required=True, metadata={"example": "invalid"})
    message = ma.fields.String(required=True)
    errors = ma.fields.Dict(metadata={"description": "Per-field messages"})
    field = ma.fields.String(
        metadata={"description": "The field a domain rule refused, when it names one"}
    )


PUBLIC_PATHS = frozenset(
    {
        "/auth/register",
        "/auth/token",
        "/auth/password-reset",
        "/auth/password-reset/confirm",
    }
)
ERROR_DESCRIPTIONS = {
    401: "No credentials, or a wrong or revoked bearer token",
    404: "No such object, or not the caller's (existence is never revealed)",
    409: "The request clashes with the current state",
    413: "The body is over 64 KiB",
    415: "The body is not application/json",
    429: "Too many attempts; wait and retry",
}
# Operations naming another user in the body: an unknown or blocked one is a 404
# (POST /blocks answers the same for any id: no 404).
USER_ID_OPERATIONS = frozenset({("post", "/partner-requests")})
CONFLICT_OPERATIONS = frozenset(
    {
        ("post", "/auth/register"),
        ("post", "/topics"),
        ("patch", "/topics/{topic_id}"),
        ("post", "/partner-requests"),
        ("post", "/partner-requests/{request_id}/accept"),
        ("post", "/partner-requests/{request_id}/decline"),
        ("post", "/partner-requests/{request_id}/cancel"),
        ("patch", "/partnerships/{partnership_id}"),
        ("post", "/partnerships/{partnership_id}/sessions"),
        ("put", "/sessions/{session_id}/topic"),
        ("post", "/turns/{turn_id}/recheck"),
    }
)


class ErrorResponsesPlugin(BasePlugin):
    """Document the error answers every operation can give, and public routes."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        route = (path or "").removeprefix("/api/v1")
        for method, operation in (operations or {}).items():
            codes = set()
            if route in PUBLIC_PATHS:
                operation["security"] = []
                codes.add(429)
                if route == "/auth/token":
                    codes.add(401)
            else:
                codes.add(401)
            if "{" in route or (method, route) in USER_ID_OPERATIONS:
                codes.add(404)
            if method not in {"get", "head", "options"}:
                codes.update({413, 415})
            if (method, route) in CONFLICT_OPERATIONS:
                codes.add(409)
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(
                    str(code),
                    {
                        "description": ERROR_DESCRIPTIONS[code],
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Error"}
                            }
                        },
                    },
                )


class AllyApi(Api):
    """flask-smorest's Api with Ally's error format, scoped to /api."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # ally.web.errors answers errors for the whole app, JSON under /api only.
        pass


class Parser(FlaskParser):
    """Validation failures are 400, like every other invalid input."""

    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(SmorestBlueprint):
    """A smorest blueprint using Ally's parser."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *, location="json", required=None, **kwargs):
        """As smorest's, but a JSON body is documented as required only when
        its schema has a required field: a body-less PATCH /me or POST of an
        extra session is a valid request, and the document must say so."""
        if required is None:
            fields = (schema() if isinstance(schema, type) else schema).fields
            required = location != "json" or any(
                field.required for field in fields.values()
            )
        return super().arguments(schema, location=location, required=required, **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true or false."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ma.ValidationError("Must be true or false.")
        return value


def _sentence(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:]


class String(ma.fields.String):
    """Text every database can store: a lone surrogate half or a NUL is a
    validation error naming the field (400 invalid), never a failed write.
    Every string field of the API's schemas is one of these."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        reason = unstorable_reason(text)
        if reason is not None:
            raise ma.ValidationError(_sentence(reason))
        return text


class Instant(ma.fields.AwareDateTime):
    """An ISO 8601 instant with an offset, within the range the app can
    convert and step from (ally.domain.timezones): year 1 or 9999 is a 400."""

    def _deserialize(self, value, attr, data, **kwargs):
        instant = super()._deserialize(value, attr, data, **kwargs)
        if not instant_in_range(instant):
            raise ma.ValidationError(_sentence(f"the instant {OUT_OF_RANGE}"))
        return instant


def _authenticate() -> User:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        user = (
            tokens.user_for_token(raw.strip()) if scheme.lower() == "bearer" else None
        )
        if user is None:
            raise Unauthorized("The bearer token is missing, wrong or revoked.")
        return user
    if current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            # Cookie-authenticated writes need the CSRF header (X-CSRFToken).
            csrf.protect()
        return current_user._get_current_object()
    raise Unauthorized("Log in, or send Authorization: Bearer <token>.")


def login_required(view):
    """Resolve the API caller (bearer token or login cookie) into g.api_user."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.api_user = _authenticate()
        return view(*args, **kwargs)

    return wrapper


def api_user() -> User:
    """The caller of the current API request."""
    return g.api_user


class NotJson(ServiceError):
    """A body that is not declared as JSON."""

    code = "unsupported_media_type"
    status = 415


class BadJson(ServiceError):
    """A body that does not parse as a JSON object."""

    code = "bad_json"


def require_json_object() -> None:
    """Refuse write bodies that are not a JSON object (before any parsing)."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.method in SAFE_METHODS or not (request.content_length or chunked):
        return
    if not request.is_json:
        raise NotJson("Send JSON with Content-Type: application/json.")
    try:
        body = request.get_json()
    except BadRequest as exc:  # not 413: too large is RequestEntityTooLarge
        raise BadJson("The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise BadJson("The body must be a JSON object.")
