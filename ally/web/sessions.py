"""Pages: the user's sessions, one session (prepare to teach), calendar files."""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from ..domain.timezones import day_in_range
from ..models import utcnow
from ..services import calendar, partnerships, reviews, schedule, session_report
from .helpers import FORM_ERRORS

bp = Blueprint("sessions", __name__)
ICS = "text/calendar; charset=utf-8"


@bp.route("/sessions")
@login_required
def index():
    """Upcoming sessions (two weeks) and recent ones (30 days)."""
    now = utcnow()
    items = schedule.list_sessions(
        current_user.id, now - timedelta(days=30), now + timedelta(days=14), now
    )
    return render_template(
        "sessions.html",
        upcoming=[i for i in items if i.ends_at > now and not _over(i.status)],
        past=[i for i in reversed(items) if i.ends_at <= now or _over(i.status)],
        names=_partner_names(),
    )


def _over(status: str) -> bool:
    return status in ("completed", "missed", "cancelled")


def _partner_names() -> dict[int, str]:
    names = {}
    for p in partnerships.list_partnerships(current_user.id):
        partner = p.partner_of(current_user.id)
        if partner is not None:
            names[partner.id] = partner.display_name
    return names


@bp.route("/partnerships/<int:partnership_id>/on/<day>")
@login_required
def on_day(partnership_id: int, day: str):
    """An upcoming scheduled session by its local date (stored on first visit)."""
    try:
        local_day = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if not day_in_range(local_day):  # year 1 or 9999: no session, and no overflow
        abort(404)
    session = schedule.ensure_session(current_user.id, partnership_id, local_day)
    return redirect(url_for("sessions.show", session_id=session.id))


@bp.route("/sessions/<int:session_id>")
@login_required
def show(session_id: int):
    """One session: when, who teaches first, the turns, and what you will teach."""
    session = schedule.get_session(current_user.id, session_id)
    partner_id = next((i for i in session.member_ids() if i != current_user.id), None)
    return render_template(
        "session.html",
        s=session,
        partnership=session.partnership,
        partner=session.partnership.partner_of(current_user.id),
        mine=schedule.participant(session.id, current_user.id),
        theirs=schedule.participant(session.id, partner_id) if partner_id else None,
        plan=schedule.plan_of(session),
        my_topics=reviews.topics_to_prepare(current_user.id, utcnow()),
        now=utcnow(),
    )


@bp.route("/sessions/<int:session_id>/topic", methods=["POST"])
@login_required
def prepare(session_id: int):
    """Name the topic you will teach in this session."""
    title = request.form.get("topic", "")
    try:
        schedule.set_planned_topic(current_user.id, session_id, title)
    except FORM_ERRORS as error:
        flash(error.message, "error")
    else:
        flash(
            "Saved: you will teach that, from memory."
            if title.strip()
            else "Topic cleared.",
            "success",
        )
    return redirect(url_for("sessions.show", session_id=session_id))


@bp.route("/partnerships/<int:partnership_id>/sessions", methods=["POST"])
@login_required
def start_extra(partnership_id: int):
    """Start an extra session now with the partnership's usual turns."""
    try:
        session = schedule.create_extra_session(
            current_user.id, partnership_id, utcnow()
        )
    except schedule.SessionUnderWay as error:
        # A second click (or the partner's): the session under way, not a new one.
        flash(error.message, "error")
        return redirect(url_for("sessions.show", session_id=error.session_id))
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return redirect(url_for("partnerships.show", partnership_id=partnership_id))
    flash("Extra session started: your partner has been told.", "success")
    return redirect(url_for("sessions.show", session_id=session.id))


@bp.route("/sessions/<int:session_id>/calendar.ics")
@login_required
def session_ics(session_id: int):
    """One session as an .ics file to add to a calendar."""
    now = utcnow()
    session = schedule.get_session(current_user.id, session_id)
    item = schedule.session_item(session, current_user.id)
    body = calendar.session_ics(current_user._get_current_object(), item, now)
    filename = f"ally-session-{session.id}.ics"
    return Response(
        body,
        mimetype=ICS,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/calendar/<token>.ics")
def feed(token: str):
    """The private calendar feed (no login: the secret in the URL is the key)."""
    user = calendar.user_for_feed_token(token)
    if user is None:
        abort(404)
    response = Response(calendar.user_feed(user, utcnow()), mimetype=ICS)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/sessions/<int:session_id>/room")
@login_required
def room(session_id: int):
    """The live teach-back room (the page talks to the server over Socket.IO)."""
    session = schedule.get_session(current_user.id, session_id)
    partner = session.partnership.partner_of(current_user.id)
    return render_template(
        "room.html",
        s=session,
        partner=partner,
        partnership=session.partnership,
        my_topics=reviews.topics_to_prepare(current_user.id, utcnow()),
        now=utcnow(),
    )


@bp.route("/sessions/<int:session_id>/summary")
@login_required
def summary(session_id: int):
    """After the session: every turn with its rating, note, jargon and signals."""
    report = session_report.report(current_user.id, session_id, with_sketch=True)
    return render_template("session_summary.html", r=report)
