"""Pages: the profile (with availability) and the topics to teach."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain.timezones import ALL_TIMEZONES
from ..services import profiles, topics
from ..services.errors import Invalid
from .forms import ProfileForm, TopicForm
from .helpers import FORM_ERRORS, attach_error, first_form_error

bp = Blueprint("profile", __name__)
_WINDOW_KEY = re.compile(r"windows-(\d+)-(?:start|end)")


def _posted_window_count() -> int:
    """Filled window rows in the raw post (the form keeps six and drops the rest)."""
    rows = {
        match[1]
        for key, value in request.form.items(multi=True)
        if (match := _WINDOW_KEY.fullmatch(key)) and value.strip()
    }
    return len(rows)


def _fill_form(form: ProfileForm) -> None:
    """Load the stored profile into an unsubmitted form."""
    user, profile = current_user, current_user.profile
    form.display_name.data = user.display_name
    form.timezone.data = user.timezone
    form.exam.data = profile.exam
    form.exam_date.data = profile.exam_date
    form.subjects.data = ", ".join(profile.subjects or [])
    form.bio.data = profile.bio
    form.looking_for_partner.data = profile.looking_for_partner
    form.auto_match.data = profile.auto_match
    for entry, window in zip(form.windows.entries, profile.availability, strict=False):
        entry.form.start.data = window["start"]
        entry.form.end.data = window["end"]
        entry.form.weekdays.data = window.get("weekdays") or []


def _changes(form: ProfileForm) -> dict:
    """The form as a profile update for the service."""
    windows = []
    for entry in form.windows.entries:
        start, end = entry.form.start.data, entry.form.end.data
        if not (start or end):
            continue
        days = entry.form.weekdays.data or None  # none ticked means every day
        windows.append({"start": start or "", "end": end or "", "weekdays": days})
    return {
        "display_name": form.display_name.data,
        "timezone": form.timezone.data,
        "exam": form.exam.data or None,
        "exam_date": form.exam_date.data,
        "subjects": (form.subjects.data or "").split(","),
        "bio": form.bio.data or "",
        "looking_for_partner": bool(form.looking_for_partner.data),
        "auto_match": bool(form.auto_match.data),
        "availability": windows,
    }


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def edit():
    """Show and save the profile."""
    form = ProfileForm()
    if request.method == "GET":
        _fill_form(form)
    elif form.validate_on_submit():
        try:
            if _posted_window_count() > profiles.MAX_WINDOWS:
                raise Invalid(
                    f"Give at most {profiles.MAX_WINDOWS} availability windows.",
                    field="availability",
                )
            profiles.update_profile(current_user.id, _changes(form))
        except FORM_ERRORS as error:
            attach_error(form, error)
        else:
            flash("Profile saved.", "success")
            return redirect(url_for("profile.edit"))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "profile.html",
        form=form,
        timezones=ALL_TIMEZONES,
        topics=topics.list_topics(current_user.id),
        topic_form=TopicForm(formdata=None),
    ), status


@bp.route("/topics", methods=["POST"])
@login_required
def add_topic():
    """Add a topic to teach."""
    form = TopicForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the topic.", "error")
    else:
        try:
            topic = topics.add_topic(
                current_user.id, form.title.data, form.subject.data
            )
        except FORM_ERRORS as error:
            flash(error.message, "error")
        else:
            flash(f"Added “{topic.title}”.", "success")
    return redirect(url_for("profile.edit") + "#topics")


@bp.route("/topics/<int:topic_id>", methods=["POST"])
@login_required
def rename_topic(topic_id: int):
    """Rename a topic or change its subject."""
    form = TopicForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the topic.", "error")
    else:
        try:
            topics.update_topic(
                current_user.id, topic_id, form.title.data, form.subject.data or None
            )
        except FORM_ERRORS as error:
            flash(error.message, "error")
        else:
            flash("Topic saved.", "success")
    return redirect(url_for("profile.edit") + "#topics")


@bp.route("/topics/<int:topic_id>/delete", methods=["POST"])
@login_required
def remove_topic(topic_id: int):
    """Remove a topic."""
    try:
        topics.remove_topic(current_user.id, topic_id)
    except FORM_ERRORS as error:
        flash(error.message, "error")
    else:
        flash("Topic removed.", "info")
    return redirect(url_for("profile.edit") + "#topics")
