"""Errors a use case raises; every entry point turns them into its own answer."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused request: nothing was written."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    """The input breaks a rule."""


class NotFound(ServiceError):
    """The object does not exist or is not the caller's (never say which)."""

    code = "not_found"
    status = 404


class Conflict(ServiceError):
    """The request clashes with the current state."""

    code = "conflict"
    status = 409


class Unauthorized(ServiceError):
    """Credentials are missing or wrong."""

    code = "unauthorized"
    status = 401


class Forbidden(ServiceError):
    """A participant acting outside their role (the teacher rating, say)."""

    code = "forbidden"
    status = 403


class WrongPhase(ServiceError):
    """The room is not in the phase this event belongs to."""

    code = "wrong_phase"
    status = 409


class AlreadyRated(ServiceError):
    """A different rating for a turn that already has one."""

    code = "already_rated"
    status = 409


class RateLimited(ServiceError):
    """Too many events too fast."""

    code = "rate_limited"
    status = 429


class NotStored(ServiceError):
    """Accepted, but the database could not store it: the sender must know."""

    code = "server_error"
    status = 503
