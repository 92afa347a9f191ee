"""The web layer: page blueprints, the JSON API and error answers."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from ..domain.vocabulary import Phase, SignalKind, Status, vocabulary
from ..services.notifications import unread_count
from ..services.partners import count_incoming
from . import (
    account,
    auth,
    dashboard,
    health,
    notifications,
    partnerships,
    profile,
    recheck,
    review,
    sessions,
)
from . import partners as partner_pages
from .api import register_api
from .converters import IdConverter
from .errors import register_errors
from .filters import register_filters

PAGE_BLUEPRINTS = (
    health.bp,
    auth.bp,
    account.bp,
    dashboard.bp,
    profile.bp,
    partner_pages.bp,
    partnerships.bp,
    notifications.bp,
    sessions.bp,
    review.bp,
    recheck.bp,
)


def _navigation_counts() -> dict:
    """Numbers shown in the navigation for a logged-in user."""
    if not current_user.is_authenticated:
        return {}
    return {
        "incoming_requests": count_incoming(current_user.id),
        "unread_notifications": unread_count(current_user.id),
    }


def register_web(app: Flask) -> None:
    """Register pages, API, errors and template helpers."""
    app.url_map.converters["int"] = IdConverter
    for bp in PAGE_BLUEPRINTS:
        app.register_blueprint(bp)
    register_api(app)
    register_errors(app)
    register_filters(app)
    app.context_processor(_navigation_counts)
    # The room's words, written once (domain.vocabulary): templates compare
    # with Status.LIVE, and hand `vocabulary()` to scripts.
    app.jinja_env.globals.update(
        Status=Status, Phase=Phase, SignalKind=SignalKind, vocabulary=vocabulary
    )
