"""Error answers: JSON {error, message} under /api, an HTML page elsewhere."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..services.errors import ServiceError

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "server_error",
}
MESSAGES = {
    404: "Nothing here: the address is wrong, or it is not yours to see.",
    405: "That method is not allowed here.",
    413: "The request body is too large (the limit is 64 KiB).",
    429: "Too many attempts. Wait a minute and try again.",
    500: "Something went wrong on our side.",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _flatten(errors, path: str = ""):
    """(dotted field path, first message) pairs from marshmallow's nested errors."""
    if isinstance(errors, dict):
        for key, inner in errors.items():
            yield from _flatten(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(errors, list | tuple) and errors:
        if all(isinstance(item, str) for item in errors):
            yield path, errors[0]
        else:
            for item in errors:
                yield from _flatten(item, path)
    elif errors:
        yield path, str(errors)


def _validation_message(messages: dict) -> str:
    """One sentence from webargs' nested {location: {field: [msg]}} errors."""
    parts = []
    for location_errors in messages.values():
        for field, text in _flatten(location_errors or {}):
            parts.append(f"{field}: {text}" if field else text)
    return "; ".join(parts) or "The request is invalid."


def _json_error(status: int, code: str, message: str, **extra):
    return {"error": code, "message": message, **extra}, status


def handle_service_error(error: ServiceError):
    """A use case refused the request: nothing was written."""
    db.session.rollback()
    if _wants_json():
        extra = {"field": error.field} if error.field else {}
        return _json_error(error.status, error.code, error.message, **extra)
    return render_template(
        "error.html", status=error.status, message=error.message
    ), error.status


def handle_csrf_error(error: CSRFError):
    """A write without a valid CSRF token."""
    message = "The form expired or came from elsewhere; reload the page and retry."
    if _wants_json():
        return _json_error(400, "csrf_failed", f"{message} ({error.description})")
    return render_template("error.html", status=400, message=message), 400


def handle_http_error(error: HTTPException):
    """Any other HTTP error."""
    status = error.code or 500
    if status >= 500:
        db.session.rollback()
    if _wants_json():
        data = getattr(error, "data", None) or {}
        if "messages" in data:
            return _json_error(
                400,
                "invalid",
                _validation_message(data["messages"]),
                errors=data["messages"],
            )
        message = MESSAGES.get(status) or error.description or error.name
        body, _ = _json_error(status, HTTP_CODES.get(status, "error"), message)
        headers = [(k, v) for k, v in error.get_headers() if k.lower() == "allow"]
        return body, status, headers
    message = MESSAGES.get(status) or error.description
    return render_template("error.html", status=status, message=message), status


def register_errors(app: Flask) -> None:
    """Install the handlers."""
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
