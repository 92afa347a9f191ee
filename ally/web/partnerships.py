"""Pages: a partnership's schedule, meeting link, pause and end."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain.availability import parse_hhmm
from ..domain.timezones import ALL_TIMEZONES, local_date, localize
from ..models import utcnow
from ..services import partnerships, schedule
from .forms import MeetingForm, ScheduleForm
from .helpers import FORM_ERRORS, first_form_error

bp = Blueprint("partnerships", __name__)


def _schedule_form(partnership) -> ScheduleForm:
    form = ScheduleForm(formdata=None)
    schedule = {**partnerships.schedule_of(partnership), **(partnership.proposal or {})}
    form.daily_time.data = schedule["daily_time"]
    form.timezone.data = schedule["timezone"]
    form.session_minutes.data = schedule["session_minutes"]
    form.turns.data = schedule["turns"]
    form.weekdays.data = schedule["weekdays"]
    return form


def wall_time_in(daily_time: str, zone: str, reader_zone: str, now: datetime) -> str:
    """A daily "HH:MM" fixed in ``zone``, as today's wall time in ``reader_zone``."""
    start = localize(local_date(now, zone), parse_hhmm(daily_time), zone)
    return start.astimezone(ZoneInfo(reader_zone)).strftime("%H:%M")


@bp.route("/partnerships/<int:partnership_id>")
@login_required
def show(partnership_id: int):
    """One partnership, its schedule in both partners' zones."""
    partnership = partnerships.get_partnership(current_user.id, partnership_id)
    meeting = MeetingForm(formdata=None, meeting_url=partnership.meeting_url)
    now = utcnow()
    upcoming = [
        item
        for item in schedule.list_sessions(
            current_user.id, now, now + timedelta(days=7), now
        )
        if item.partnership_id == partnership.id and item.status != "cancelled"
    ]
    return render_template(
        "partnership.html",
        p=partnership,
        partner=partnership.partner_of(current_user.id),
        schedule=partnerships.schedule_of(partnership),
        schedule_form=_schedule_form(partnership),
        meeting_form=meeting,
        timezones=ALL_TIMEZONES,
        now=now,
        upcoming=upcoming,
        daily_time_in=partnerships.daily_time_in,
        wall_time_in=wall_time_in,
    )


def _update(partnership_id: int, changes: dict, done: str):
    try:
        _, pending = partnerships.update_partnership(
            current_user.id, partnership_id, changes
        )
    except FORM_ERRORS as error:
        flash(error.message, "error")
    else:
        flash("Proposed: your partner must agree." if pending else done, "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership_id))


@bp.route("/partnerships/<int:partnership_id>/schedule", methods=["POST"])
@login_required
def propose(partnership_id: int):
    """Propose (or agree to) a schedule."""
    form = ScheduleForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the schedule.", "error")
        return redirect(url_for("partnerships.show", partnership_id=partnership_id))
    changes = {
        "daily_time": form.daily_time.data,
        "timezone": form.timezone.data,
        "session_minutes": form.session_minutes.data,
        "turns": form.turns.data,
        "weekdays": form.weekdays.data or list(range(7)),
    }
    return _update(partnership_id, changes, "Schedule updated.")


@bp.route("/partnerships/<int:partnership_id>/meeting", methods=["POST"])
@login_required
def meeting(partnership_id: int):
    """Set or clear the meeting link."""
    form = MeetingForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the link.", "error")
        return redirect(url_for("partnerships.show", partnership_id=partnership_id))
    return _update(
        partnership_id, {"meeting_url": form.meeting_url.data or None}, "Link saved."
    )


@bp.route("/partnerships/<int:partnership_id>/status", methods=["POST"])
@login_required
def set_status(partnership_id: int):
    """Pause or resume."""
    status = request.form.get("status", "")
    return _update(partnership_id, {"status": status}, f"Partnership {status}.")


@bp.route("/partnerships/<int:partnership_id>/end", methods=["POST"])
@login_required
def end(partnership_id: int):
    """End the partnership for both partners."""
    partnerships.end_partnership(current_user.id, partnership_id, utcnow())
    flash("Partnership ended. You can look for a new partner.", "info")
    return redirect(url_for("dashboard.index"))
