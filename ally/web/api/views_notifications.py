"""API: notifications."""

from __future__ import annotations

from ...services import notifications
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .presenters import notification_json
from .schemas import NotificationArgs, NotificationList, NotificationOut, ReadOut

blp = ApiBlueprint("api_notifications", __name__, description="Notifications")
blp.before_request(require_json_object)


@blp.route("/notifications", methods=["GET"])
@login_required
@blp.arguments(NotificationArgs, location="query")
@blp.response(200, NotificationList)
def list_notifications(args):
    """The caller's notifications, newest first (the same ones pushed live)."""
    me = api_user()
    items = notifications.list_notifications(
        me.id, limit=args.get("limit", 50), unread_only=args.get("unread", False)
    )
    return {
        "items": [notification_json(n) for n in items],
        "unread": notifications.unread_count(me.id),
    }


@blp.route("/notifications/read", methods=["POST"])
@login_required
@blp.response(200, ReadOut)
def read_all():
    """Mark every notification read."""
    return {"marked": notifications.mark_read(api_user().id)}


@blp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
@blp.response(200, NotificationOut)
def read_one(notification_id: int):
    """Mark one notification read."""
    me = api_user()
    return notification_json(notifications.open_notification(me.id, notification_id))
