"""Pages: the review of my explanations, topics, gaps, calibration, export."""

from __future__ import annotations

import csv
import io
import json

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

from ..domain.review import series_by_period
from ..models import utcnow
from ..offload import no_collection
from ..services import reteach, reviews
from ..services.calibration import four_way
from ..services.errors import Invalid
from ..services.room import strokes_of
from .charts import Series, four_way_chart, line_chart
from .helpers import FORM_ERRORS
from .retention_chart import retention_chart

bp = Blueprint("review", __name__)


def _render_index(status: int = 200, terms_error: str | None = None, typed=None):
    # Thousands of rows live until the page is rendered: see no_collection.
    with no_collection():
        return _render_summary(status, terms_error, typed)


def _render_summary(status: int, terms_error: str | None, typed):
    summary = reviews.summary(current_user.id)
    chosen = request.args.get("topic", "")
    topic = next((t for t in summary.topics if t.key == chosen), None)
    if chosen and topic is None:
        abort(404)
    period, tz = summary.period, summary.timezone
    series = [Series("All topics", [(m, v) for m, v, _ in summary.overall])]
    topic_series = []
    if topic is not None:
        topic_series = series_by_period(topic.ratings, period, tz)
        series.append(Series(topic.topic, [(m, v) for m, v, _ in topic_series]))
    chart = (
        line_chart(series, title=f"Mean simplicity per {period}", chart_id="trend")
        if summary.overall
        else None
    )
    calibration = summary.calibration
    calibration_chart, calibration_rows = None, []
    if calibration.points:
        by_period = summary.calibration_series
        calibration_chart = line_chart(
            [
                Series("You (self-rating)", [(m, own) for m, own, _, _ in by_period]),
                Series("Your partner", [(m, theirs) for m, _, theirs, _ in by_period]),
            ],
            title=f"Self-rating against partner's rating per {period}",
            chart_id="calibration",
        )
        calibration_rows = by_period
    now = utcnow()
    schedule = reteach.by_key(reteach.cards(current_user.id, now))
    four = four_way(current_user.id, now)
    return render_template(
        "review/index.html",
        s=summary,
        topic=topic,
        schedule=schedule,
        retention=_retention(topic, now, tz) if topic else None,
        topic_by_period={m: (v, n) for m, v, n in topic_series},
        chart=chart,
        calibration_chart=calibration_chart,
        calibration_rows=calibration_rows,
        four=four,
        four_chart=four_way_chart(four.periods, four.period),
        partnerships=reviews.partnership_stats(current_user.id),
        terms=typed if typed is not None else reviews.allowed_terms(current_user.id),
        terms_error=terms_error,
    ), status


def _retention(topic, now, timezone: str):
    """One topic's rated explanations and its retrievability chart (or None)."""
    history = reteach.topic_reviews(current_user.id, topic.key)
    points = reteach.curve(history, now)
    if not points:
        return None
    title = topic.topic
    chart = retention_chart(
        points,
        [r.at for r in history],
        now=now,
        aim=reteach.retention(),
        timezone=timezone,
        title=f"Chance you can still explain {title} well, over time",
    )
    return {"chart": chart, "reviews": history}


@bp.route("/review")
@login_required
def index():
    """Figures, the gaps to teach again, topics with a chart, calibration."""
    return _render_index()


def _page_or_400(loader, *args):
    try:
        return loader(*args, request.args.get("page"), request.args.get("per_page"))
    except Invalid as error:
        abort(400, description=error.message)


@bp.route("/review/explanations")
@login_required
def explanations():
    """Every turn I taught, newest first, with what my partner said."""
    page = _page_or_400(reviews.explanations, current_user.id)
    sketches = strokes_of([e.turn_id for e in page.items])
    return render_template("review/explanations.html", page=page, sketches=sketches)


@bp.route("/review/given")
@login_required
def given():
    """The ratings I gave my partners."""
    page = _page_or_400(reviews.ratings, current_user.id, "given")
    return render_template("review/given.html", page=page)


@bp.route("/review/terms", methods=["POST"])
@login_required
def terms():
    """Save the terms I must use (never flagged as rare words)."""
    typed = request.form.get("terms", "")
    try:
        saved = reviews.set_allowed_terms(current_user.id, typed)
    except FORM_ERRORS as error:
        # Shown beside the box, with what was typed kept.
        return _render_index(400, terms_error=error.message, typed=[typed])
    flash(f"Saved {len(saved)} term{'s' if len(saved) != 1 else ''}.", "success")
    return redirect(url_for("review.index") + "#terms")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@bp.route("/review/export.<fmt>")
@login_required
def export(fmt: str):
    """My explanations (role=received) or the ratings I gave, as CSV or JSON."""
    role = request.args.get("role", "received")
    if fmt not in ("csv", "json"):
        abort(404)
    try:
        rows = reviews.export_rows(current_user.id, role)
    except Invalid as error:
        abort(400, description=error.message)
    stamp = utcnow().strftime("%Y%m%d")
    filename = f"ally-{role}-{stamp}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "json":
        body = json.dumps({"role": role, "items": rows}, ensure_ascii=False, indent=1)
        return Response(body, mimetype="application/json", headers=disposition)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=reviews.EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        flat = {
            **row,
            "jargon": "; ".join(row["jargon"]),
            "rare_words": "; ".join(row["rare_words"]),
        }
        writer.writerow({k: _spreadsheet_safe(v) for k, v in flat.items()})
    return Response(
        # Werkzeug adds "; charset=utf-8" to a text/* mimetype itself.
        buffer.getvalue(),
        mimetype="text/csv",
        headers=disposition,
    )
