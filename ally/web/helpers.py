"""Small helpers shared by the page views."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ..security import is_safe_next
from ..services.errors import Conflict, Invalid, ServiceError

# Errors a page shows as a message; NotFound becomes a 404 page instead.
FORM_ERRORS = (Invalid, Conflict)


def auth_rate_limit() -> str:
    """The configured limit for login, register and token endpoints."""
    return current_app.config["ALLY_AUTH_RATE_LIMIT"]


def attach_error(form: FlaskForm, error: ServiceError) -> None:
    """Show a service error beside its field, or at the top of the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def redirect_back(default: str) -> Response:
    """Redirect to a same-site `next` target, or to the default endpoint."""
    target = request.form.get("next") or request.args.get("next")
    if is_safe_next(target):
        return redirect(target)
    return redirect(url_for(default))


def first_form_error(form: FlaskForm) -> str | None:
    """The first validation message of a form, for flashing."""
    for name, errors in form.errors.items():
        if errors:
            label = getattr(getattr(form, name, None), "label", None)
            prefix = f"{label.text}: " if label is not None else ""
            message = errors[0] if isinstance(errors[0], str) else str(errors[0])
            return prefix + message
    return None
