"""Pages: the landing page and the dashboard after login."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from ..models import utcnow
from ..services import attendance, partners, partnerships, reteach, schedule

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    """The dashboard when logged in, else what Ally is."""
    if not current_user.is_authenticated:
        return render_template("index.html")
    now = utcnow()
    requests = partners.list_requests(current_user.id, now, status="pending")
    partnership = partnerships.current_partnership(current_user.id)
    return render_template(
        "dashboard.html",
        partnership=partnership,
        next_session=schedule.next_session(current_user.id, now),
        stats=attendance.attendance(current_user.id, now),
        incoming=[r for r in requests if r.to_user_id == current_user.id],
        outgoing=[r for r in requests if r.from_user_id == current_user.id],
        due_topics=reteach.due(current_user.id, now),
        now=now,
        daily_time=lambda p, tz=None: partnerships.daily_time_in(
            p, tz or current_user.timezone, now
        ),
    )
