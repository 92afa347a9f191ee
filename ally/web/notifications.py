"""Pages: the notification list and marking notifications read."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..security import is_safe_next
from ..services import notifications

bp = Blueprint("notifications", __name__)


@bp.route("/notifications")
@login_required
def index():
    """The user's latest notifications, unread ones marked."""
    return render_template(
        "notifications.html",
        items=notifications.list_notifications(current_user.id),
    )


@bp.route("/notifications/read", methods=["POST"])
@login_required
def read_all():
    """Mark every notification read."""
    notifications.mark_read(current_user.id)
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_one(notification_id: int):
    """Mark one notification read and go where it points."""
    item = notifications.open_notification(current_user.id, notification_id)
    target = item.url if is_safe_next(item.url) else None
    return redirect(target or request.referrer or url_for("notifications.index"))
