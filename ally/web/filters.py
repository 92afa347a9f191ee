"""Jinja filters: times and durations as a student reads them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user
from markupsafe import Markup, escape

from ..domain.availability import format_hhmm
from ..domain.matching import format_duration

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def local_datetime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """An instant in the viewer's own time zone."""
    if value is None:
        return ""
    tz = current_user.timezone if current_user.is_authenticated else "UTC"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def in_zone(value: datetime | None, tz: str, fmt: str = "%H:%M") -> str:
    """An instant as wall time in a named zone (e.g. the partner's)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def countdown(delta: timedelta) -> str:
    """A time left in words: "3 d 4 h", "2 h 05 min", "4 min", "now"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{max(minutes, 1)} min"


def highlight_rare(text: str | None, rare: tuple[str, ...] | list[str]) -> Markup:
    """The text, escaped, with each rare word marked (<mark class="rare">)."""
    safe = str(escape(text or ""))
    if not rare:
        return Markup(safe)
    words = sorted({str(escape(w)) for w in rare}, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w-])",
        re.IGNORECASE,
    )
    return Markup(pattern.sub(r'<mark class="rare">\1</mark>', safe))


def weekday_names(days: list[int] | None) -> str:
    """ "every day" or "Mon, Wed"."""
    if not days or len(days) == 7:
        return "every day"
    return ", ".join(WEEKDAYS[d] for d in sorted(days))


def register_filters(app: Flask) -> None:
    """Make the filters available to templates."""
    app.add_template_filter(local_datetime, "local")
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(format_hhmm, "hhmm")
    app.add_template_filter(weekday_names, "weekdays")
    app.add_template_filter(in_zone, "in_zone")
    app.add_template_filter(countdown, "countdown")
    app.add_template_filter(highlight_rare, "highlight_rare")
